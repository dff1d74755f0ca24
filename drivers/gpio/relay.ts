/**
 * `Relay`: the turnstile's "open" contact (hardware.md §3.4). The level that leaves the relay
 * released is the line's first level, written as the output is created (sysfs direction `high`/`low`)
 * and re-asserted by `release()` and `close()`. Active-low boards (energised when IN is pulled to
 * GND) are inverted here, not in the kernel.
 *
 * `pulse(ms)` energises for `ms`, never longer than `maxPulseMs` of continuous energised time: a
 * pulse during a pulse extends it only up to that cap. The cap is enforced by a timer, so it holds
 * as long as the event loop runs; the systemd watchdog covers a stalled loop (a restart re-asserts
 * the released level).
 */
import { PassgateError } from '../../device/core/errors.js';
import { checkInteger } from '../common/backoff.js';
import { errorText, silentLogger } from '../common/logger.js';
import type { DriverLogger } from '../types.js';
import type { GpioChip, GpioLine, Level } from './line.js';

export interface RelayOptions {
  /** BCM line number, [0…53]. */
  line: number;
  /** The relay board energises on a low input (most cheap modules); default true. */
  activeLow?: boolean;
  /** Hard cap on continuous energised time, [10…10000] ms, default 1000 (turnstiles want ≥ 100 ms pulses). */
  maxPulseMs?: number;
  /** `pulse()` without an argument, [10…maxPulseMs] ms, default 300. */
  pulseMs?: number;
  /** Default `relay`. */
  name?: string;
  logger?: DriverLogger;
  /** Monotonic ms clock for the cap, default `performance.now`. */
  now?: () => number;
}

export interface RelayStats {
  pulses: number;
  /** Pulses (or extensions) shortened by the cap. */
  capped: number;
  releaseFailures: number;
}

export class Relay {
  readonly name: string;
  readonly activeLow: boolean;
  readonly maxPulseMs: number;
  readonly pulseMs: number;
  readonly stats: RelayStats = { pulses: 0, capped: 0, releaseFailures: 0 };
  readonly #line: GpioLine;
  readonly #log: DriverLogger;
  readonly #now: () => number;
  #energisedAt: number | null = null;
  #endAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #waiters: Array<() => void> = [];
  #closed = false;

  /** Claims the line as an output whose very first level is the released one. */
  static async open(chip: GpioChip, options: RelayOptions): Promise<Relay> {
    const activeLow = options.activeLow ?? true;
    checkInteger('line', options.line, 0, 53);
    const line = await chip.output(options.line, releasedLevel(activeLow));
    return new Relay(line, options);
  }

  /** Wraps a line that is already an output; writes the released level at once. */
  constructor(line: GpioLine, options: RelayOptions) {
    this.name = options.name ?? 'relay';
    this.activeLow = options.activeLow ?? true;
    this.maxPulseMs = checkInteger('maxPulseMs', options.maxPulseMs ?? 1000, 10, 10_000);
    this.pulseMs = checkInteger('pulseMs', options.pulseMs ?? Math.min(300, this.maxPulseMs), 10, this.maxPulseMs);
    this.#line = line;
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? (() => performance.now());
    this.#line.write(this.#released);
  }

  get energised(): boolean {
    return this.#energisedAt !== null;
  }

  /** Energises for `ms` (default `pulseMs`, capped at `maxPulseMs`); resolves when released. */
  pulse(ms: number = this.pulseMs): Promise<void> {
    if (this.#closed) return Promise.reject(new PassgateError('INTERNAL', `${this.name} is closed`));
    if (!Number.isFinite(ms) || ms <= 0) return Promise.reject(new PassgateError('BAD_CONFIG', `pulse length must be a positive number of ms, got ${ms}`));
    const now = this.#now();
    if (this.#energisedAt === null) {
      try {
        this.#line.write(this.#energisedLevel);
      } catch (err) {
        this.release(); // whatever the write did, put the safe level back
        return Promise.reject(err);
      }
      this.#energisedAt = now;
      this.#endAt = now;
    }
    this.stats.pulses++;
    const cap = this.#energisedAt + this.maxPulseMs;
    const wanted = now + ms;
    if (wanted > cap) {
      this.stats.capped++;
      this.#log.warn({ relay: this.name, requestedMs: ms, maxPulseMs: this.maxPulseMs }, 'relay pulse capped');
    }
    this.#endAt = Math.max(this.#endAt, Math.min(wanted, cap));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.release(), Math.max(0, this.#endAt - now));
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** De-energises now; idempotent (re-asserts the released level every time). */
  release(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#energisedAt = null;
    try {
      this.#line.write(this.#released);
      if (this.#retry) clearTimeout(this.#retry);
      this.#retry = null;
    } catch (err) {
      // Keep trying: a relay that cannot be released is the one fault that must not be left alone.
      this.stats.releaseFailures++;
      this.#log.error({ relay: this.name, err: errorText(err) }, 'relay release failed; retrying');
      if (!this.#retry) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          this.release();
        }, 50);
      }
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Releases and frees the line (which keeps driving the released level). */
  close(): void {
    if (this.#closed) return;
    this.release();
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#line.close();
  }

  get #released(): Level {
    return releasedLevel(this.activeLow);
  }

  get #energisedLevel(): Level {
    return this.activeLow ? 0 : 1;
  }
}

export function releasedLevel(activeLow: boolean): Level {
  return activeLow ? 1 : 0;
}
