/**
 * A fake SAM_V reader module: speaks GA/T 467 on the device side of a serial link (a socat pty, the
 * mock binding, or a `VirtualSerialLink`). Serves a configurable card and injects faults: noise
 * before replies, replies split into small chunks, bad checksums, failed reads, silence. Used by the
 * simulated twin, the tests and the benchmark. Card data here is synthetic.
 */
import { TypedEmitter } from '../common/emitter.js';
import type { ByteEndpoint } from '../serial/endpoint.js';
import { buildResponse, COMMANDS, PREAMBLE, parseCommand, SamDeframer, SW3, type CommandName } from './frame.js';
import { encodeTextBlock, type CardFields } from './text.js';

export interface FakeSamFaults {
  /** Random bytes written before each reply (never forming a preamble). Default 0. */
  noiseBytes?: number;
  /** Split each reply into chunks of 1…splitChunks bytes with `splitPauseMs` between. 0 = whole. */
  splitChunks?: number;
  /** Pause between split chunks, default 1 ms. */
  splitPauseMs?: number;
  /** Corrupt the checksum of the next N replies. */
  badChecksums?: number;
  /** Answer the next N reads with SW3 0x41 (read failed). */
  readFailures?: number;
  /** Answer nothing at all (a hung SAM). */
  silent?: boolean;
}

export interface FakeSamReaderOptions {
  card?: CardFields | null;
  faults?: FakeSamFaults;
  /** Delay before each reply (SAM processing), default 0 ms; `readDelayMs` for 30 01, default 0. */
  replyDelayMs?: number;
  readDelayMs?: number;
  /** Write a reply's last byte on its own and time it (`reply` event), for latency benchmarks. */
  splitLastByte?: boolean;
  /** PRNG seed for noise and splits, default 1. */
  seed?: number;
}

export interface FakeSamEvents {
  request: [command: CommandName | 'unknown' | 'bad-frame'];
  /** After a reply's last byte was handed to the link; `lastByteAtMs` is `performance.now()` just before. */
  reply: [info: { command: string; bytes: number; lastByteAtMs: number }];
}

const NAMES = new Map<string, CommandName>(Object.entries(COMMANDS).map(([name, [c, p]]) => [`${c}:${p}`, name as CommandName]));

export class FakeSamReader extends TypedEmitter<FakeSamEvents> {
  faults: FakeSamFaults;
  /** Names of the commands received, in order (the last 1000). */
  readonly requests: string[] = [];
  #card: CardFields | null;
  readonly #endpoint: ByteEndpoint;
  readonly #deframer = new SamDeframer({ minLength: 3, maxLength: 1024 });
  readonly #unsubscribe: () => void;
  readonly #options: FakeSamReaderOptions;
  #queue: Promise<void> = Promise.resolve();
  #rng: () => number;
  #closed = false;

  constructor(endpoint: ByteEndpoint, options: FakeSamReaderOptions = {}) {
    super();
    this.#endpoint = endpoint;
    this.#options = options;
    this.#card = options.card ?? null;
    this.faults = { ...(options.faults ?? {}) };
    this.#rng = mulberry32(options.seed ?? 1);
    this.#unsubscribe = endpoint.onData((chunk) => this.#onData(chunk));
  }

  get card(): CardFields | null {
    return this.#card;
  }

  /** Places a card on the reader. */
  present(card: CardFields): void {
    this.#card = card;
  }

  /** Takes the card away. */
  remove(): void {
    this.#card = null;
  }

  /** Stops listening; pending replies are dropped. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
  }

  /** Resolves once every reply queued so far has been written. */
  idle(): Promise<void> {
    return this.#queue;
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#deframer.push(chunk)) {
      if (item.type === 'error') {
        this.#log('bad-frame');
        this.#enqueue('bad-frame', buildResponse(SW3.CHECKSUM_ERROR));
        continue;
      }
      const cmd = parseCommand(item.body);
      const name = cmd ? NAMES.get(`${cmd.cmd}:${cmd.para}`) : undefined;
      this.#log(name ?? 'unknown');
      this.#enqueue(name ?? 'unknown', this.#answer(name));
    }
  }

  #answer(name: CommandName | undefined): Buffer {
    const card = this.#card;
    switch (name) {
      case 'find':
        return card ? buildResponse(SW3.FIND_OK, Buffer.alloc(4)) : buildResponse(SW3.NO_CARD);
      case 'select':
        return card ? buildResponse(SW3.SUCCESS, Buffer.alloc(8)) : buildResponse(SW3.SELECT_FAILED);
      case 'readText': {
        if (!card) return buildResponse(SW3.READ_FAILED);
        if ((this.faults.readFailures ?? 0) > 0) {
          this.faults.readFailures!--;
          return buildResponse(SW3.READ_FAILED);
        }
        const photo = Buffer.alloc(1024);
        for (let i = 0; i < photo.length; i++) photo[i] = Math.floor(this.#rng() * 256);
        // 00 00 90 · 01 00 · 04 00 · text(256) · photo(1024) → LEN 0x0508, 1295 bytes in all
        return buildResponse(SW3.SUCCESS, Buffer.concat([Buffer.from([0x01, 0x00, 0x04, 0x00]), encodeTextBlock(card), photo]));
      }
      case 'readAddress':
        return buildResponse(SW3.ITEM_EMPTY);
      case 'samStatus':
        return buildResponse(SW3.SUCCESS);
      case 'samId':
        return buildResponse(SW3.SUCCESS, Buffer.alloc(16, 0x30));
      case 'reset':
        return buildResponse(SW3.SUCCESS);
      default:
        return buildResponse(SW3.COMMAND_ERROR);
    }
  }

  #enqueue(command: string, reply: Buffer): void {
    this.#queue = this.#queue.then(() => this.#reply(command, reply)).catch(() => {});
  }

  async #reply(command: string, reply: Buffer): Promise<void> {
    const f = this.faults;
    if (this.#closed || f.silent) return;
    const delay = command === 'readText' ? (this.#options.readDelayMs ?? 0) : (this.#options.replyDelayMs ?? 0);
    if (delay > 0) await sleep(delay);
    if ((f.badChecksums ?? 0) > 0) {
      f.badChecksums!--;
      reply[reply.length - 1] = reply[reply.length - 1]! ^ 0x5a;
    }
    const parts: Buffer[] = [];
    if ((f.noiseBytes ?? 0) > 0) parts.push(this.#noise(f.noiseBytes!));
    const chunk = f.splitChunks ?? 0;
    let body = reply;
    let last: Buffer | null = null;
    if (this.#options.splitLastByte) {
      body = reply.subarray(0, reply.length - 1);
      last = reply.subarray(reply.length - 1);
    }
    if (chunk > 0) {
      for (let i = 0; i < body.length; ) {
        const n = 1 + Math.floor(this.#rng() * chunk);
        parts.push(body.subarray(i, i + n));
        i += n;
      }
    } else parts.push(body);
    for (let i = 0; i < parts.length; i++) {
      if (this.#closed) return;
      await this.#endpoint.write(parts[i]!);
      if (chunk > 0 && i < parts.length - 1) await sleep(f.splitPauseMs ?? 1);
    }
    let lastByteAtMs = performance.now();
    if (last) {
      await sleep(2); // let the body drain so the last byte's time is its own
      lastByteAtMs = performance.now();
      await this.#endpoint.write(last);
    }
    this.emit('reply', { command, bytes: reply.length, lastByteAtMs });
  }

  #noise(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      let v = Math.floor(this.#rng() * 256);
      if (v === PREAMBLE[4]) v = 0x68; // no 0x69: noise can never complete a preamble
      b[i] = v;
    }
    return b;
  }

  #log(name: string): void {
    this.requests.push(name);
    if (this.requests.length > 1000) this.requests.shift();
    this.emit('request', name as CommandName);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Small deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
