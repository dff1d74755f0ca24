/**
 * `CameraScanner`: QR codes from a camera, as an input driver like the serial and HID scanners
 * (drivers/types.ts): `scan` events carrying `{ input: 'qr', text }`, `state` events, `health()`.
 *
 *   FrameSource ─frames─▶ decode (sharp + ZXing in a worker) ─texts─▶ RepeatFilter ─▶ scan
 *
 * A camera sees the same code in many consecutive frames; the repeat filter makes that one scan.
 * The same text again is a new scan only after a different text was seen, or after it was out of
 * sight for longer than `repeatGapMs` (measured from the last frame that showed it, so a code that
 * decodes only in every other frame is still one scan). Anti-passback (§8 REPLAY) is the decision
 * core's business; this only stops one presentation from becoming a burst of decisions.
 *
 * Frames are decoded one at a time; while one is being decoded the source keeps only the newest
 * frame.
 *
 * Personal data: scanned text goes to `scan` listeners only; it is never logged.
 */
import { TypedEmitter } from '../common/emitter.js';
import { Supervisor } from '../common/supervisor.js';
import { checkInteger } from '../../base/check.js';
import { MAX_CODE_BYTES, decodeCodeText } from '../common/code-text.js';
import { errorText, SILENT } from '../../base/log.js';
import type { BackoffOptions, DriverHealth, Logger, DriverState, InputDriver, InputDriverEvents } from '../types.js';
import type { Presented } from '../../base/presented.js';
import { decodeQrImage, type QrDetector } from './decode.js';
import { WorkerQrDetector } from './qr-worker.js';
import type { FrameSource } from './source.js';

/** Collapses repeated sightings of the same text into one scan (see the module comment). */
export class RepeatFilter {
  #last: string | null = null;
  #lastSeenMs = -Infinity;

  constructor(readonly gapMs: number) {}

  /** Records a sighting of `text` at `nowMs`; true when it is a new scan. */
  accept(text: string, nowMs: number): boolean {
    const repeat = text === this.#last && nowMs - this.#lastSeenMs <= this.gapMs;
    this.#last = text;
    this.#lastSeenMs = nowMs;
    return !repeat;
  }

  reset(): void {
    this.#last = null;
    this.#lastSeenMs = -Infinity;
  }
}

export interface CameraScannerOptions {
  source: FrameSource;
  /** Driver name in logs and scan metadata, default `camera`. */
  name?: string;
  /** Decoder for one encoded frame; default `decodeQrImage` with ZXing in a worker thread (`WorkerQrDetector`). */
  decode?: (frame: Buffer) => Promise<string[]>;
  /** Same text within this many ms of its last sighting is the same scan, [0…60000], default 1500. */
  repeatGapMs?: number;
  /** Monotonic clock in ms, default `performance.now`. */
  now?: () => number;
  /** Backoff before asking the source for frames again after it failed; default 500 ms to 30 s. */
  backoff?: BackoffOptions;
  logger?: Logger;
  random?: () => number;
}

export interface CameraScannerCounters {
  /** Frames taken from the source. */
  frames: number;
  /** Frames in which a code was found. */
  decodes: number;
  /** `scan` events emitted (new presentations). */
  scans: number;
  /** Sightings folded into an earlier scan. */
  repeats: number;
  /** Codes that were not acceptable text (too long, control characters). */
  unreadable: number;
  /** Frames that could not be decoded as images, and source failures. */
  errors: number;
  [counter: string]: number;
}

export class CameraScanner extends TypedEmitter<InputDriverEvents> implements InputDriver<CameraScannerCounters> {
  readonly name: string;
  readonly #source: FrameSource;
  readonly #decode: (frame: Buffer) => Promise<string[]>;
  readonly #detector: QrDetector | null;
  readonly #filter: RepeatFilter;
  readonly #now: () => number;
  readonly #sup: Supervisor;
  readonly #log: Logger;
  readonly #counts: CameraScannerCounters = { frames: 0, decodes: 0, scans: 0, repeats: 0, unreadable: 0, errors: 0 };
  #state: DriverState = 'stopped';
  #lastError: string | undefined;
  #loop: Promise<void> | null = null;
  #stopping = false;

  constructor(options: CameraScannerOptions) {
    super();
    this.name = options.name ?? 'camera';
    this.#source = options.source;
    this.#log = options.logger ?? SILENT;
    this.#now = options.now ?? (() => performance.now());
    this.#filter = new RepeatFilter(checkInteger('repeatGapMs', options.repeatGapMs ?? 1500, 0, 60_000));
    this.#sup = new Supervisor({ driver: this.name, what: 'camera source', log: this.#log, backoff: { initialMs: 500, maxMs: 30_000, ...options.backoff }, random: options.random });
    if (options.decode) {
      this.#decode = options.decode;
      this.#detector = null;
    } else {
      const detector = new WorkerQrDetector();
      this.#detector = detector;
      this.#decode = (frame) => decodeQrImage(frame, { detector });
    }
  }

  /** Starts reading frames; resolves at once (the loop runs until `stop()` or the source ends). */
  start(): Promise<void> {
    if (this.#loop) return Promise.resolve();
    this.#stopping = false;
    this.#sup.start();
    this.#setState('reconnecting');
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      this.#setState('stopped');
    });
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#sup.stop(); // ends a pause between attempts at once
    await this.#source.close();
    await this.#loop;
    await this.#detector?.close();
    this.#filter.reset();
  }

  /** Resolves when the read loop has ended (source exhausted or `stop()`). */
  done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  health(): DriverHealth<CameraScannerCounters> & { source: Record<string, number | string | null> } {
    const h: DriverHealth<CameraScannerCounters> & { source: Record<string, number | string | null> } = {
      state: this.#state,
      counters: { ...this.#counts },
      source: this.#source.health(),
    };
    if (this.#lastError !== undefined) h.lastError = this.#lastError;
    return h;
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.#log.error({ driver: this.name, event, err: errorText(err) }, 'scan listener threw');
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        for await (const frame of this.#source.frames()) {
          if (this.#stopping) break;
          this.#setState('connected');
          this.#sup.connected();
          await this.#onFrame(frame);
        }
        return; // the source ended (or was closed by stop())
      } catch (err) {
        if (this.#stopping) return;
        this.#counts.errors++;
        this.#lastError = `source: ${errorText(err)}`;
        this.#setState('reconnecting');
        await this.#sup.pauseAfter(err);
      }
    }
  }

  async #onFrame(frame: Buffer): Promise<void> {
    this.#counts.frames++;
    let texts: string[];
    try {
      texts = await this.#decode(frame);
    } catch (err) {
      this.#counts.errors++;
      this.#lastError = `frame: ${errorText(err)}`;
      this.#log.debug({ driver: this.name, err: this.#lastError }, 'frame not decodable');
      return;
    }
    if (texts.length === 0) return;
    this.#counts.decodes++;
    const now = this.#now();
    for (const text of texts) {
      if (!this.#filter.accept(text, now)) {
        this.#counts.repeats++;
        continue;
      }
      this.emit('scan', this.#presented(text), { driver: this.name, atMs: performance.now() });
    }
  }

  #presented(text: string): Presented {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > MAX_CODE_BYTES) {
      this.#counts.unreadable++;
      return { input: 'qr', unreadable: `code over ${MAX_CODE_BYTES} bytes` };
    }
    const decoded = decodeCodeText(bytes);
    if ('unreadable' in decoded) {
      this.#counts.unreadable++;
      return { input: 'qr', unreadable: decoded.unreadable };
    }
    this.#counts.scans++;
    return { input: 'qr', text: decoded.text };
  }

  #setState(state: DriverState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
