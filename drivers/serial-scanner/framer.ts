/**
 * Line framer for serial code scanners (PROTOCOL.md §9, hardware.md §2.1). Pure: bytes in, codes out.
 *
 * - CR, LF or CR LF ends a line (a CR LF split across chunks still counts once); empty lines are
 *   skipped.
 * - An AIM symbology identifier (`]` + letter + digit) at the start is removed; with
 *   `acceptAim: 'qr'` only `]Qn` lines are accepted.
 * - A line over `maxLineBytes` (4096) is discarded whole: one `unreadable` result
 *   `line over 4096 bytes` as soon as the limit is passed, then every byte up to the next terminator
 *   is dropped without being buffered.
 * - Lines that are not UTF-8, or hold control characters, are `unreadable`.
 */
import { aimPrefix, interpretCode, MAX_CODE_BYTES, type AimPolicy, type CodeResult } from '../common/code-text.js';
import { checkInteger } from '../../base/check.js';

export type FramedLine = CodeResult;

export interface LineFramerOptions extends AimPolicy {
  /** Longest accepted line in bytes, AIM identifier included, terminator excluded: [16…65536], default 4096. */
  maxLineBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;

export class LineFramer {
  readonly maxLineBytes: number;
  readonly #policy: AimPolicy;
  readonly #line: Buffer;
  #length = 0;
  #discarding = false;
  #afterCr = false;

  constructor(options: LineFramerOptions = {}) {
    this.maxLineBytes = checkInteger('maxLineBytes', options.maxLineBytes ?? MAX_CODE_BYTES, 16, 65_536);
    this.#policy = { acceptAim: options.acceptAim ?? 'any', requireAim: options.requireAim ?? false };
    this.#line = Buffer.alloc(this.maxLineBytes);
  }

  /** Bytes currently buffered for an unfinished line. */
  get pending(): number {
    return this.#length;
  }

  /** Drops a partial line (after a reconnect). */
  reset(): void {
    this.#line.fill(0, 0, this.#length);
    this.#length = 0;
    this.#discarding = false;
    this.#afterCr = false;
  }

  push(chunk: Uint8Array): FramedLine[] {
    const out: FramedLine[] = [];
    let start = 0; // start of the current run of line bytes within chunk
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== CR && b !== LF) continue;
      this.#take(chunk, start, i, out);
      if (!(b === LF && this.#afterCr && i === start)) this.#endLine(out);
      this.#afterCr = b === CR;
      start = i + 1;
    }
    if (start < chunk.length) {
      this.#take(chunk, start, chunk.length, out);
      this.#afterCr = false;
    }
    return out;
  }

  /** Appends chunk[from, to) to the line, or drops it while discarding an over-long line. */
  #take(chunk: Uint8Array, from: number, to: number, out: FramedLine[]): void {
    if (to <= from || this.#discarding) return;
    const room = this.maxLineBytes - this.#length;
    if (to - from > room) {
      const head = Buffer.concat([this.#line.subarray(0, Math.min(3, this.#length)), chunk.subarray(from, from + 3)]);
      out.push({ ok: false, unreadable: `line over ${this.maxLineBytes} bytes`, aim: aimPrefix(head) });
      this.#line.fill(0, 0, this.#length);
      this.#length = 0;
      this.#discarding = true;
      return;
    }
    this.#line.set(chunk.subarray(from, to), this.#length);
    this.#length += to - from;
  }

  #endLine(out: FramedLine[]): void {
    if (this.#discarding) {
      this.#discarding = false;
      return;
    }
    if (this.#length === 0) return;
    const line = this.#line.subarray(0, this.#length);
    out.push(frameLine(line, this.#policy));
    line.fill(0);
    this.#length = 0;
  }
}

/** Interprets one complete line (terminator removed). */
export function frameLine(line: Uint8Array, policy: AimPolicy = {}): FramedLine {
  return interpretCode(line, policy);
}
