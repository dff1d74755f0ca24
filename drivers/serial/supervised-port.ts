/**
 * A serial port that keeps itself open: serialport has no auto-reconnect (node-serialport#648), so
 * this reopens the configured path (a stable `/dev/serial/by-id/…` or `/dev/serial/by-path/…` link,
 * hardware.md §5.2) with capped exponential backoff after a failed open, an unplug
 * (`DisconnectedError`), an unexpected close, or on request (`reopen`, e.g. after reply timeouts).
 *
 * It uses `SerialPortStream` with an injected binding (the system binding, `MockBinding`, or a
 * `VirtualSerialLink`), and never lets a binding's rejection escape.
 *
 * Presence check: a hang-up that arrives right after an open is sometimes never reported by
 * bindings-cpp (seen on a socat pty killed within a few ms of the open: the port stays "open" on a
 * dead fd for good). So while open, the path is stat()ed every `presenceCheckMs`; when the node is
 * gone (udev removes `/dev/serial/by-id/…` on unplug) or is a different node (re-plugged), the port
 * is reopened. Paths that are not files (mock, virtual) skip the check.
 */
import { stat } from 'node:fs/promises';
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { TypedEmitter } from '../common/emitter.js';
import { Supervisor } from '../common/supervisor.js';
import { checkInteger } from '../../base/check.js';
import { errorText, SILENT } from '../../base/log.js';
import type { BackoffOptions, Logger, DriverState } from '../types.js';
import { listSerialPorts } from './binding.js';
import { isResourceExhaustion, PassgateError } from '../../base/errors.js';

export interface SupervisedPortOptions {
  binding: BindingInterface;
  /** Device path; prefer a `/dev/serial/by-id/…` or `/dev/serial/by-path/…` link. */
  path: string;
  /** [50…4000000], required (drivers give their own default). */
  baudRate: number;
  backoff?: BackoffOptions;
  /** An open that has lasted this long resets the backoff, [0…600000] ms, default 5000. */
  stableAfterMs?: number;
  logger?: Logger;
  /** While open, stat() the path this often and reopen if the node vanished or changed: [0…60000] ms, 0 = off, default 1000. */
  presenceCheckMs?: number;
  /** Names the port in logs. */
  name?: string;
  /** Random source for backoff jitter (tests). */
  random?: () => number;
}

export interface SupervisedPortCounters {
  opens: number;
  openFailures: number;
  disconnects: number;
  reopens: number;
  vanished: number;
  bytesIn: number;
  bytesOut: number;
  writeErrors: number;
}

export interface SupervisedPortEvents {
  data: [chunk: Buffer];
  open: [];
  close: [reason: string];
  state: [state: DriverState];
}

export class SupervisedPort extends TypedEmitter<SupervisedPortEvents> {
  readonly path: string;
  readonly baudRate: number;
  readonly counters: SupervisedPortCounters = { opens: 0, openFailures: 0, disconnects: 0, reopens: 0, vanished: 0, bytesIn: 0, bytesOut: 0, writeErrors: 0 };
  lastError: string | undefined;
  readonly #binding: BindingInterface;
  readonly #sup: Supervisor;
  readonly #stableAfterMs: number;
  readonly #presenceCheckMs: number;
  #presenceTimer: NodeJS.Timeout | null = null;
  readonly #log: Logger;
  readonly #name: string;
  #port: SerialPortStream | null = null;
  #stableTimer: NodeJS.Timeout | null = null;
  #reopenReason: string | null = null;
  /** The pending reopen is for a lost device (counted as a disconnect, not a requested reopen). */
  #reopenIsLoss = false;

  constructor(options: SupervisedPortOptions) {
    super();
    if (!options.binding || typeof options.binding.open !== 'function') {
      throw new PassgateError('BAD_CONFIG', 'a serial binding is required (binding.open is not a function)');
    }
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new PassgateError('BAD_CONFIG', 'a serial path is required');
    }
    this.#binding = options.binding;
    this.path = options.path;
    this.baudRate = checkInteger('baudRate', options.baudRate, 50, 4_000_000);
    this.#stableAfterMs = checkInteger('stableAfterMs', options.stableAfterMs ?? 5000, 0, 600_000);
    this.#presenceCheckMs = checkInteger('presenceCheckMs', options.presenceCheckMs ?? 1000, 0, 60_000);
    this.#log = options.logger ?? SILENT;
    this.#name = options.name ?? 'serial';
    this.#sup = new Supervisor({ driver: this.#name, what: 'serial port open', log: this.#log, backoff: options.backoff, random: options.random, onState: (state) => this.emit('state', state) });
  }

  get state(): DriverState {
    return this.#sup.state;
  }

  get isOpen(): boolean {
    return this.#port?.isOpen ?? false;
  }

  /** Starts opening; resolves after the first attempt (connected or retrying). */
  async start(): Promise<void> {
    await this.#sup.begin(() => this.#attempt());
  }

  async stop(): Promise<void> {
    await this.#sup.end(async () => {
      this.#clearTimers();
      const port = this.#port;
      this.#port = null;
      if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    });
  }

  /** Writes bytes if the port is open; false (and nothing written) otherwise. */
  write(bytes: Uint8Array): boolean {
    const port = this.#port;
    if (!port?.isOpen) return false;
    this.counters.bytesOut += bytes.length;
    port.write(Buffer.from(bytes), (err) => {
      if (err) {
        this.counters.writeErrors++;
        this.lastError = `write: ${errorText(err)}`;
        this.#log.debug({ port: this.#name, err: errorText(err) }, 'serial write failed');
      }
    });
    return true;
  }

  /** Closes the port and opens it again after a backoff delay (no-op while not open). */
  reopen(reason: string): void {
    const port = this.#port;
    if (!this.#sup.running || !port?.isOpen) return;
    this.#reopenReason = reason;
    this.#log.warn({ port: this.#name, reason }, 'reopening serial port');
    // A close that fails (dead fd) emits no 'close' event: treat the port as closed anyway.
    port.close((err) => {
      if (err) this.#onClose(port, err);
    });
  }

  async #attempt(): Promise<void> {
    const run = this.#sup.run;
    const abandoned = (): boolean => !this.#sup.isCurrent(run);
    if (abandoned()) return;
    // The node's identity before the open, for the presence check (null: not a file system path).
    const node = this.#presenceCheckMs > 0 ? await stat(this.path).catch(() => null) : null;
    if (abandoned()) return;
    const port = new SerialPortStream({ binding: this.#binding, path: this.path, baudRate: this.baudRate, autoOpen: false });
    // An 'error' without a listener would throw; errors surface through open/close/write callbacks.
    port.on('error', (err: Error) => {
      this.lastError = errorText(err);
      this.#log.debug({ port: this.#name, err: this.lastError }, 'serial port error');
    });
    const err = await new Promise<Error | null>((resolve) => {
      try {
        port.open((e) => resolve(e ?? null));
      } catch (e) {
        resolve(e instanceof Error ? e : new Error(String(e)));
      }
    });
    if (abandoned()) {
      if (!err && port.isOpen) port.close();
      return;
    }
    if (err) {
      this.counters.openFailures++;
      this.lastError = `open ${this.path}: ${errorText(err)}`;
      this.#sup.retryAfter(err, () => void this.#attempt(), { port: this.#name, path: this.path });
      // What is plugged in, once per streak (never when the process is short of descriptors).
      if (this.#sup.failStreak === 1 && !isResourceExhaustion(err)) {
        const ports = await listSerialPorts(this.#binding, this.#log);
        this.#log.debug({ port: this.#name, available: ports.map((p) => p.path) }, 'serial ports present');
      }
      return;
    }
    this.#port = port;
    this.counters.opens++;
    this.#sup.connected(false);
    port.on('data', (chunk: Buffer) => {
      this.counters.bytesIn += chunk.length;
      this.emit('data', chunk);
    });
    port.on('close', (closeErr: Error | null) => this.#onClose(port, closeErr));
    if (this.#stableAfterMs === 0) this.#sup.backoff.reset();
    else {
      this.#stableTimer = setTimeout(() => this.#sup.backoff.reset(), this.#stableAfterMs);
      this.#stableTimer.unref();
    }
    this.#log.info({ port: this.#name, path: this.path, baudRate: this.baudRate }, 'serial port open');
    this.#sup.setState('connected');
    this.emit('open');
    if (node) this.#watchPresence(port, node);
  }

  #watchPresence(port: SerialPortStream, node: { ino: number; rdev: number }): void {
    const check = async (): Promise<void> => {
      const now = await stat(this.path).catch(() => null);
      if (this.#port !== port) return;
      if (!now || now.ino !== node.ino || now.rdev !== node.rdev) {
        this.counters.vanished++;
        this.#reopenIsLoss = true;
        this.reopen(now ? 'device node changed' : 'device node vanished');
        return;
      }
      this.#presenceTimer = setTimeout(() => void check(), this.#presenceCheckMs);
    };
    this.#presenceTimer = setTimeout(() => void check(), this.#presenceCheckMs);
  }

  #onClose(port: SerialPortStream, err: Error | null): void {
    if (this.#port !== port) return;
    this.#port = null;
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    if (this.#presenceTimer) clearTimeout(this.#presenceTimer);
    this.#stableTimer = this.#presenceTimer = null;
    if (!this.#sup.running) return;
    let reason: string;
    if (this.#reopenReason !== null && !this.#reopenIsLoss) {
      reason = `reopen: ${this.#reopenReason}`;
      this.#reopenReason = null;
      this.counters.reopens++;
    } else if (this.#reopenReason !== null) {
      reason = `disconnected: ${this.#reopenReason}`;
      this.#reopenReason = null;
      this.#reopenIsLoss = false;
      this.counters.disconnects++;
      this.lastError = reason;
    } else {
      reason = err ? `disconnected: ${errorText(err)}` : 'closed';
      this.counters.disconnects++;
      this.lastError = reason;
      this.#log.warn({ port: this.#name, reason }, 'serial port lost; reconnecting');
    }
    this.#sup.setState('reconnecting');
    this.emit('close', reason);
    this.#sup.retryLater(() => void this.#attempt());
  }

  #clearTimers(): void {
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    if (this.#presenceTimer) clearTimeout(this.#presenceTimer);
    this.#stableTimer = this.#presenceTimer = null;
  }
}
