/**
 * `SerialScanner`: a code scanner on a UART or USB CDC-ACM/VCP port. Opens `path` through an injected
 * serialport binding, frames lines (framer.ts), emits one `scan` per line, and reopens the port with
 * capped exponential backoff after an unplug, close or error.
 *
 *   binding ─▶ SupervisedPort ─data─▶ LineFramer ─▶ scan { input: 'qr', text } | { input: 'qr', unreadable }
 */
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Presented } from '../../base/presented.js';
import { TypedEmitter } from '../common/emitter.js';
import { errorText, SILENT } from '../../base/log.js';
import { SupervisedPort } from '../serial/supervised-port.js';
import type { BackoffOptions, DriverHealth, Logger, InputDriver, InputDriverEvents } from '../types.js';
import { LineFramer, type LineFramerOptions } from './framer.js';

export interface SerialScannerOptions extends LineFramerOptions {
  /** Serial binding: `await loadSystemSerialBinding()` on the Pi, `MockBinding` in tests. Required. */
  binding: BindingInterface;
  /** Device path, ideally a stable `/dev/serial/by-id/…` or `/dev/serial/by-path/…` link. Required. */
  path: string;
  /** [50…4000000], default 115200 (ignored by USB CDC-ACM scanners). */
  baudRate?: number;
  /** Reopen backoff; defaults 250 ms doubling to 10 s, ±20 %. */
  backoff?: BackoffOptions;
  /** Device-node presence check while open, ms, 0 = off, default 1000 (see SupervisedPort). */
  presenceCheckMs?: number;
  /** Driver name in logs and scan metadata, default `serial-scanner`. */
  name?: string;
  logger?: Logger;
  /** Random source for backoff jitter (tests). */
  random?: () => number;
}

export interface SerialScannerCounters {
  scans: number;
  unreadable: number;
  overlong: number;
  bytesIn: number;
  opens: number;
  openFailures: number;
  disconnects: number;
  [counter: string]: number;
}

export class SerialScanner extends TypedEmitter<InputDriverEvents> implements InputDriver<SerialScannerCounters> {
  readonly name: string;
  readonly #port: SupervisedPort;
  readonly #framer: LineFramer;
  readonly #log: Logger;
  readonly #counts = { scans: 0, unreadable: 0, overlong: 0 };

  constructor(options: SerialScannerOptions) {
    super();
    this.name = options.name ?? 'serial-scanner';
    this.#log = options.logger ?? SILENT;
    this.#framer = new LineFramer(options);
    this.#port = new SupervisedPort({
      binding: options.binding,
      path: options.path,
      baudRate: options.baudRate ?? 115_200,
      backoff: options.backoff,
      presenceCheckMs: options.presenceCheckMs,
      logger: this.#log,
      name: this.name,
      random: options.random,
    });
    this.#port.on('data', (chunk) => this.#onData(chunk));
    this.#port.on('open', () => this.#framer.reset());
    this.#port.on('state', (state) => this.emit('state', state));
  }

  get path(): string {
    return this.#port.path;
  }

  start(): Promise<void> {
    return this.#port.start();
  }

  async stop(): Promise<void> {
    await this.#port.stop();
    this.#framer.reset();
  }

  health(): DriverHealth<SerialScannerCounters> {
    const p = this.#port.counters;
    const h: DriverHealth<SerialScannerCounters> = {
      state: this.#port.state,
      counters: { ...this.#counts, bytesIn: p.bytesIn, opens: p.opens, openFailures: p.openFailures, disconnects: p.disconnects },
    };
    if (this.#port.lastError !== undefined) h.lastError = this.#port.lastError;
    return h;
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.#log.error({ driver: this.name, event, err: errorText(err) }, 'scan listener threw');
  }

  #onData(chunk: Buffer): void {
    for (const line of this.#framer.push(chunk)) {
      const meta = { driver: this.name, atMs: performance.now(), ...(line.aim ? { aim: line.aim } : {}) };
      let scan: Presented;
      if (line.ok) {
        this.#counts.scans++;
        scan = { input: 'qr', text: line.text };
      } else {
        this.#counts.unreadable++;
        if (line.unreadable.startsWith('line over')) this.#counts.overlong++;
        this.#log.debug({ driver: this.name, reason: line.unreadable }, 'unreadable line');
        scan = { input: 'qr', unreadable: line.unreadable };
      }
      this.emit('scan', scan, meta);
    }
  }
}
