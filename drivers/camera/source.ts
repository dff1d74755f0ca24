/**
 * Where camera frames come from. A `FrameSource` yields encoded images (JPEG, PNG, …) to one
 * consumer, the camera scanner. Implementations:
 *
 * - `ImageFileSource`: image files, once or in a loop (bench, demo, a technician's test images);
 * - `CommandMjpegSource`: a capture command writing an MJPEG stream to stdout, e.g.
 *   `rpicam-vid -t 0 -n --codec mjpeg --width 640 --height 480 --framerate 10 -o -` (Pi camera) or
 *   `ffmpeg -f v4l2 -input_format mjpeg -video_size 640x480 -i /dev/video0 -c:v copy -bsf:v mjpeg2jpeg -f mjpeg -`
 *   (USB camera; `mjpeg2jpeg` adds the Huffman tables UVC cameras leave out). The stream is split
 *   into frames (mjpeg.ts); the command is restarted with capped exponential backoff when it exits;
 * - `SimulatedFrameSource` (simulated.ts): given images, for tests.
 *
 * Sources never queue more than a few frames: a gate wants the newest frame, so when the consumer
 * is busy decoding, older frames are dropped (and counted).
 */
import { readFile } from 'node:fs/promises';
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { Supervisor } from '../common/supervisor.js';
import { checkInteger } from '../../base/check.js';
import { errorText, SILENT } from '../../base/log.js';
import type { BackoffOptions, Logger } from '../types.js';
import { MjpegSplitter } from './mjpeg.js';

export interface FrameSource {
  /** Encoded frames as they come. Ends when the source is closed (or, for finite sources, exhausted). */
  frames(): AsyncIterable<Buffer>;
  /** Stops producing frames and releases the device or process; idempotent. */
  close(): Promise<void>;
  /** Counters and state for the scanner's health report (no image data). */
  health(): Record<string, number | string | null>;
}

/** Image files, in order; `loop` repeats them until closed; `intervalMs` paces them. */
export class ImageFileSource implements FrameSource {
  #closed = false;
  #read = 0;
  #errors = 0;
  #lastError: string | null = null;

  constructor(
    readonly paths: readonly string[],
    readonly options: { loop?: boolean; intervalMs?: number } = {},
  ) {}

  async *frames(): AsyncGenerator<Buffer> {
    do {
      for (const path of this.paths) {
        if (this.#closed) return;
        try {
          const data = await readFile(path);
          this.#read++;
          if (this.options.intervalMs) await new Promise((r) => setTimeout(r, this.options.intervalMs));
          if (this.#closed) return;
          yield data;
        } catch (err) {
          this.#errors++;
          this.#lastError = errorText(err);
        }
      }
    } while (this.options.loop && !this.#closed && this.paths.length > 0);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  health(): Record<string, number | string | null> {
    return { read: this.#read, errors: this.#errors, lastError: this.#lastError };
  }
}

export interface CommandMjpegSourceOptions {
  /** Executable, e.g. `rpicam-vid` or `ffmpeg`. Run without a shell. */
  command: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Largest JPEG frame accepted, bytes; default 4 MiB. */
  maxFrameBytes?: number;
  /** Frames held while the consumer is busy, [1…16], default 1 (always the newest). */
  queue?: number;
  /** Restart backoff after the command exits; default 500 ms doubling to 30 s, ±20 %. */
  backoff?: BackoffOptions;
  /** Grace period between SIGTERM and SIGKILL on close, ms; default 2000. */
  killTimeoutMs?: number;
  logger?: Logger;
  /** Injected for tests. */
  spawn?: typeof nodeSpawn;
  random?: () => number;
}

/** An MJPEG capture command's stdout as frames, restarted with backoff whenever it exits. */
export class CommandMjpegSource implements FrameSource {
  readonly #o: CommandMjpegSourceOptions;
  readonly #splitter: MjpegSplitter;
  readonly #sup: Supervisor;
  readonly #log: Logger;
  readonly #queueMax: number;
  readonly #queue: Buffer[] = [];
  #child: ChildProcess | null = null;
  #wake: (() => void) | null = null;
  #started = false;
  #closed = false;
  #counts = { starts: 0, exits: 0, frames: 0, dropped: 0 };
  #lastExit: string | null = null;
  #lastError: string | null = null;

  constructor(options: CommandMjpegSourceOptions) {
    this.#o = options;
    this.#splitter = new MjpegSplitter(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes });
    this.#log = options.logger ?? SILENT;
    this.#sup = new Supervisor({ driver: 'camera', what: 'camera command', log: this.#log, backoff: { initialMs: 500, maxMs: 30_000, ...options.backoff }, random: options.random });
    this.#queueMax = checkInteger('queue', options.queue ?? 1, 1, 16);
  }

  async *frames(): AsyncGenerator<Buffer> {
    if (!this.#started) {
      this.#started = true;
      this.#sup.start();
      this.#launch();
    }
    try {
      while (!this.#closed) {
        const frame = this.#queue.shift();
        if (frame) {
          yield frame;
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.#closed && !this.#child) return;
    this.#closed = true;
    this.#sup.stop();
    this.#queue.length = 0;
    this.#wake?.();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.#o.killTimeoutMs ?? 2000);
      await exited;
      clearTimeout(timer);
    }
    this.#child = null;
  }

  health(): Record<string, number | string | null> {
    const s = this.#splitter.counters;
    return {
      state: this.#closed ? 'stopped' : this.#child ? 'running' : 'restarting',
      ...this.#counts,
      garbageBytes: s.garbageBytes,
      oversize: s.oversize,
      malformed: s.malformed,
      lastExit: this.#lastExit,
      lastError: this.#lastError,
    };
  }

  #launch(): void {
    if (this.#closed) return;
    this.#splitter.reset();
    this.#counts.starts++;
    let child: ChildProcess;
    try {
      child = (this.#o.spawn ?? nodeSpawn)(this.#o.command, [...(this.#o.args ?? [])], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.#o.env ?? process.env,
      });
    } catch (err) {
      this.#onExit(null, err);
      return;
    }
    this.#child = child;
    let done = false;
    // First of all: a spawn that fails (ENOENT, EMFILE, …) reports it as an 'error' event on the
    // next tick, and an 'error' without a listener would end the process.
    child.on('error', (err) => {
      if (done) return;
      done = true;
      this.#onExit(child, err);
    });
    // Node hands back a child without pipes when the spawn itself hit EMFILE/ENFILE: the 'error'
    // above follows and restarts it later.
    if (!child.stdout || !child.stderr) return;
    this.#log.info({ command: this.#o.command, pid: child.pid }, 'camera command started');
    child.stdout.on('data', (chunk: Buffer) => this.#onData(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      const line = chunk.toString('utf8').trim().split('\n').pop();
      if (line) this.#lastError = line.slice(0, 200);
    });
    // 'close', not 'exit': stdout is drained by then, so no frame of the old process arrives after a restart.
    child.on('close', (code, signal) => {
      if (done) return;
      done = true;
      this.#onExit(child, new Error(signal ? `signal ${signal}` : `exit code ${code}`));
    });
  }

  #onData(chunk: Buffer): void {
    for (const frame of this.#splitter.push(chunk)) {
      this.#counts.frames++;
      this.#sup.connected();
      this.#queue.push(frame);
      while (this.#queue.length > this.#queueMax) {
        this.#queue.shift();
        this.#counts.dropped++;
      }
      this.#wake?.();
    }
  }

  #onExit(child: ChildProcess | null, err: unknown): void {
    if (child && this.#child !== child) return;
    this.#child = null;
    this.#counts.exits++;
    this.#lastExit = errorText(err);
    if (this.#closed) return;
    this.#sup.retryAfter(err, () => this.#launch(), { command: this.#o.command });
  }
}
