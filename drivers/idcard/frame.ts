/**
 * GA/T 467 SAM serial framing (hardware.md §1.2–1.4). Pure: no I/O, no timers.
 *
 *   Host → SAM   AA AA AA 96 69 · LEN(2, BE) · CMD · Para · Data… · CHK
 *   SAM → Host   AA AA AA 96 69 · LEN(2, BE) · SW1 SW2 SW3 · Data… · CHK
 *
 * LEN counts everything after itself, checksum included; CHK = XOR of LEN1 … last data byte.
 */
import { checkInteger } from '../../base/check.js';
import { PassgateError } from '../../base/errors.js';

export const PREAMBLE = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69]);
const HEADER = 7; // preamble + LEN

export const SW3 = {
  SUCCESS: 0x90,
  FIND_OK: 0x9f,
  ITEM_EMPTY: 0x91,
  CHECKSUM_ERROR: 0x10,
  LENGTH_ERROR: 0x11,
  COMMAND_ERROR: 0x21,
  NOT_PERMITTED: 0x23,
  UNKNOWN_ERROR: 0x24,
  CARD_AUTH_FAILED: 0x31,
  SAM_AUTH_FAILED: 0x32,
  VERIFY_ERROR: 0x33,
  UNKNOWN_CARD_TYPE: 0x40,
  READ_FAILED: 0x41,
  RANDOM_FAILED: 0x47,
  SELF_TEST_FAILED: 0x60,
  NOT_AUTHORISED: 0x66,
  NO_CARD: 0x80,
  SELECT_FAILED: 0x81,
} as const;

/** Command + parameter pairs used by the reader. */
export const COMMANDS = {
  find: [0x20, 0x01],
  select: [0x20, 0x02],
  readText: [0x30, 0x01],
  readTextFingerprint: [0x30, 0x10],
  readAddress: [0x30, 0x03],
  samStatus: [0x11, 0xff],
  samId: [0x12, 0xff],
  reset: [0x10, 0xff],
} as const satisfies Record<string, readonly [number, number]>;

export type CommandName = keyof typeof COMMANDS;

export function xor(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let x = 0;
  for (let i = from; i < to; i++) x ^= bytes[i]!;
  return x;
}

/** Builds a frame around `body` (CMD Para Data… or SW1 SW2 SW3 Data…), adding LEN and CHK. */
export function buildFrame(body: Uint8Array): Buffer {
  const len = body.length + 1;
  if (len > 0xffff) throw new PassgateError('FRAME_TOO_LONG', `SAM frame body too long: ${body.length} bytes`);
  const frame = Buffer.alloc(HEADER + len);
  PREAMBLE.copy(frame, 0);
  frame.writeUInt16BE(len, 5);
  frame.set(body, HEADER);
  frame[frame.length - 1] = xor(frame, 5, frame.length - 1);
  return frame;
}

export function buildCommand(cmd: number, para: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  return buildFrame(Buffer.concat([Buffer.from([cmd, para]), data]));
}

/** `AA AA AA 96 69 00 03 20 01 22` etc. */
export function commandFrame(name: CommandName): Buffer {
  const [cmd, para] = COMMANDS[name];
  return buildCommand(cmd, para);
}

export function buildResponse(sw3: number, data: Uint8Array = new Uint8Array(0), sw1 = 0, sw2 = 0): Buffer {
  return buildFrame(Buffer.concat([Buffer.from([sw1, sw2, sw3]), data]));
}

export type Deframed =
  /** A frame whose checksum matched; `body` is everything between LEN and CHK (a copy). */
  | { type: 'frame'; body: Buffer }
  /** A candidate frame was dropped; the de-framer resynchronised one byte after its preamble. */
  | { type: 'error'; reason: 'bad-checksum' | 'bad-length'; length: number };

export interface DeframerOptions {
  /** Smallest LEN accepted: 4 for SAM replies (SW1 SW2 SW3 CHK), 3 for host commands. [1…16], default 4. */
  minLength?: number;
  /** Largest LEN accepted; a 30 10 reply with 1024 B of fingerprints has LEN 2314. [16…65535], default 4096. */
  maxLength?: number;
}

/**
 * Streaming de-framer: feed chunks as they arrive, get whole frames back. Bytes before a preamble
 * are noise (counted in `noiseBytes`); a LEN out of range or a checksum mismatch drops only the first
 * preamble byte and searches again, so a real frame hidden behind a false start is still found.
 * Consumed bytes are zeroed (replies carry personal data). Never throws on any input.
 */
export class SamDeframer {
  readonly minLength: number;
  readonly maxLength: number;
  noiseBytes = 0;
  #buf: Buffer = Buffer.alloc(0);

  constructor(options: DeframerOptions = {}) {
    this.minLength = checkInteger('minLength', options.minLength ?? 4, 1, 16);
    this.maxLength = checkInteger('maxLength', options.maxLength ?? 4096, 16, 0xffff);
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.#buf.length;
  }

  reset(): void {
    this.#buf.fill(0);
    this.#buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): Deframed[] {
    const out: Deframed[] = [];
    if (chunk.length === 0) return out;
    const old = this.#buf;
    this.#buf = Buffer.concat([old, chunk]);
    old.fill(0);
    let pos = 0;
    const buf = this.#buf;
    for (;;) {
      const start = buf.indexOf(PREAMBLE, pos);
      if (start < 0) {
        // keep a possible preamble prefix (up to 4 bytes) at the end
        let keep = Math.min(PREAMBLE.length - 1, buf.length - pos);
        while (keep > 0 && !PREAMBLE.subarray(0, keep).equals(buf.subarray(buf.length - keep))) keep--;
        this.noiseBytes += buf.length - keep - pos;
        pos = buf.length - keep;
        break;
      }
      this.noiseBytes += start - pos;
      pos = start;
      if (buf.length - start < HEADER) break;
      const len = buf.readUInt16BE(start + 5);
      if (len < this.minLength || len > this.maxLength) {
        out.push({ type: 'error', reason: 'bad-length', length: len });
        pos = start + 1;
        this.noiseBytes++;
        continue;
      }
      const end = start + HEADER + len;
      if (buf.length < end) break;
      if (xor(buf, start + 5, end - 1) !== buf[end - 1]) {
        out.push({ type: 'error', reason: 'bad-checksum', length: len });
        pos = start + 1;
        this.noiseBytes++;
        continue;
      }
      out.push({ type: 'frame', body: Buffer.from(buf.subarray(start + HEADER, end - 1)) });
      buf.fill(0, start, end);
      pos = end;
    }
    this.#buf = Buffer.from(buf.subarray(pos));
    buf.fill(0);
    return out;
  }
}

export interface SamResponse {
  sw1: number;
  sw2: number;
  sw3: number;
  data: Buffer;
}

/** A reply body (SW1 SW2 SW3 Data…); null if shorter than 3 bytes. */
export function parseResponse(body: Buffer): SamResponse | null {
  if (body.length < 3) return null;
  return { sw1: body[0]!, sw2: body[1]!, sw3: body[2]!, data: body.subarray(3) };
}

/** A command body (CMD Para Data…); null if shorter than 2 bytes. */
export function parseCommand(body: Buffer): { cmd: number; para: number; data: Buffer } | null {
  if (body.length < 2) return null;
  return { cmd: body[0]!, para: body[1]!, data: body.subarray(2) };
}

export function sw3Name(sw3: number): string {
  for (const [name, code] of Object.entries(SW3)) if (code === sw3) return name;
  return 'UNKNOWN';
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0').toUpperCase()}`;
}
