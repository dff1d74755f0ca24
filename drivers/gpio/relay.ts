/**
 * `Relay`: the one relay driver (hardware.md §3.4) — the gate's relay port in production, the demo
 * and the bench. Levels are LOGICAL: `active` = coil energised, `inactive` = de-energised (the safe
 * level, the one the hardware falls to when the Pi dies). Active-low boards (energised when IN is
 * pulled to GND) are inverted here, not in the kernel.
 *
 * The line is claimed with the de-energised level as its very first level (sysfs direction
 * `high`/`low`), and the sysfs driver opens the line's `value` file ONCE, at that moment: every
 * later write goes through that descriptor, so a process that has run out of descriptors (EMFILE:
 * a flood of connections to the console) can still release the relay.
 *
 * Two ways to energise, because the gate needs both:
 * - a PULSE (`set('active', ms)`, `pulse(ms)`): energised for `ms`, never longer than `maxPulseMs`
 *   of continuous energised time (a pulse during a pulse extends it only up to that cap). The end
 *   is enforced by the relay's OWN timer, whatever the caller does next: a gate machine that stalls
 *   or forgets still gets the relay released on time. (The systemd watchdog covers a stalled loop;
 *   a restart re-asserts the de-energised level.)
 * - a HOLD (`set('active')` without a length): energised until told otherwise. The fire-alarm
 *   release of a fail-secure gate and the locked idle of a fail-safe maglock last as long as they
 *   last, so they are not capped.
 *
 * A write that fails is never left alone: a failed release is retried every `retryMs` until it
 * works, logged (rate-limited) at error level, counted, and reported by `health()`.
 */
import { PassgateError } from '../../base/errors.js';
import { checkInteger } from '../../base/check.js';
import { errorText, RateLimitedLog, SILENT, type Logger } from '../../base/log.js';
import type { GpioChip, GpioLine, Level } from './line.js';

/** The relay's logical level: coil energised or not, whatever the board's wiring. */
export type RelayLevel = 'active' | 'inactive';

export interface RelayOptions {
  /** Line number on the chip (BCM on a Pi), [0…1023]. */
  line: number;
  /** The relay board energises on a low input (most cheap modules); default true. */
  activeLow?: boolean;
  /** Hard cap on a pulse's continuous energised time, [10…10000] ms, default 1000 (turnstiles want ≥ 100 ms pulses). */
  maxPulseMs?: number;
  /** `pulse()` without an argument, [10…maxPulseMs] ms, default 300. */
  pulseMs?: number;
  /** Period of the retries of a failed release, [5…1000] ms, default 50. */
  retryMs?: number;
  /** Default `relay`. */
  name?: string;
  logger?: Logger;
  /** Monotonic ms clock for the cap, default `performance.now`. */
  now?: () => number;
}

export interface RelayStats {
  pulses: number;
  /** Pulses (or extensions) shortened by the cap. */
  capped: number;
  /** Pulses ended by the relay's own timer (normally the caller ends them at the same moment). */
  endedByRelay: number;
  releaseFailures: number;
}

/** The pin level that leaves an (active-low or not) relay board de-energised. */
export function deEnergisedPin(activeLow: boolean): Level {
  return activeLow ? 1 : 0;
}

/** The pin level for a logical relay level. */
export function pinLevel(level: RelayLevel, activeLow: boolean): Level {
  return (level === 'active') === activeLow ? 0 : 1;
}

export class Relay {
  readonly name: string;
  readonly activeLow: boolean;
  readonly maxPulseMs: number;
  readonly pulseMs: number;
  readonly retryMs: number;
  readonly stats: RelayStats = { pulses: 0, capped: 0, endedByRelay: 0, releaseFailures: 0 };
  readonly #line: GpioLine;
  readonly #log: Logger;
  readonly #loud: RateLimitedLog;
  readonly #now: () => number;
  /** When the current pulse began (null: not pulsing). */
  #pulseFrom: number | null = null;
  #held = false;
  #endAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #fault: string | null = null;
  #waiters: Array<() => void> = [];
  #closed = false;

  /** Claims the line as an output whose very first level is the de-energised one. */
  static async open(chip: GpioChip, options: RelayOptions): Promise<Relay> {
    const activeLow = options.activeLow ?? true;
    checkInteger('line', options.line, 0, 1023);
    const line = await chip.output(options.line, deEnergisedPin(activeLow));
    return new Relay(line, options);
  }

  /** Wraps a line that is already an output; re-asserts the de-energised level at once. */
  constructor(line: GpioLine, options: RelayOptions) {
    this.name = options.name ?? 'relay';
    this.activeLow = options.activeLow ?? true;
    this.maxPulseMs = checkInteger('maxPulseMs', options.maxPulseMs ?? 1000, 10, 10_000);
    this.pulseMs = checkInteger('pulseMs', options.pulseMs ?? Math.min(300, this.maxPulseMs), 10, this.maxPulseMs);
    this.retryMs = checkInteger('retryMs', options.retryMs ?? 50, 5, 1000);
    this.#line = line;
    this.#log = options.logger ?? SILENT;
    this.#loud = new RateLimitedLog(this.#log, 1000);
    this.#now = options.now ?? (() => performance.now());
    this.release();
  }

  get energised(): boolean {
    return this.#pulseFrom !== null || this.#held;
  }

  /**
   * The gate's relay port: `active` with `pulseMs` is a pulse the relay ends by itself; `active`
   * without is a hold; `inactive` releases. Throws when the write fails (after putting the
   * de-energised level back, or scheduling retries of it).
   */
  set(level: RelayLevel, pulseMs?: number): void {
    if (this.#closed) throw new PassgateError('DRIVER_CLOSED', `${this.name} is closed`);
    if (level === 'inactive') {
      this.release();
      if (this.#fault) throw new PassgateError('DEVICE_IO', `${this.name}: release failed: ${this.#fault}`);
      return;
    }
    if (pulseMs === undefined) this.#hold();
    else this.#pulse(pulseMs);
  }

  /** Energises for `ms` (default `pulseMs`, capped at `maxPulseMs`); resolves when released. */
  pulse(ms: number = this.pulseMs): Promise<void> {
    try {
      if (this.#closed) throw new PassgateError('DRIVER_CLOSED', `${this.name} is closed`);
      this.#pulse(ms);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** De-energises now; idempotent (re-asserts the de-energised level every time). */
  release(): void {
    this.#cancelTimer();
    this.#pulseFrom = null;
    this.#held = false;
    this.#writeReleased();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  health(): { ok: boolean; detail?: string } {
    return this.#fault ? { ok: false, detail: this.#fault } : { ok: true };
  }

  /** Releases and frees the line (which keeps driving the de-energised level). */
  close(): void {
    if (this.#closed) return;
    this.release();
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#line.close();
  }

  #pulse(ms: number): void {
    if (!Number.isFinite(ms) || ms <= 0) throw new PassgateError('BAD_CONFIG', `pulse length must be a positive number of ms, got ${ms}`);
    const now = this.#now();
    if (this.#pulseFrom === null) {
      this.#energise();
      this.#held = false;
      this.#pulseFrom = now;
      this.#endAt = now;
    }
    this.stats.pulses++;
    const cap = this.#pulseFrom + this.maxPulseMs;
    const wanted = now + ms;
    if (wanted > cap) {
      this.stats.capped++;
      this.#log.warn({ relay: this.name, requestedMs: ms, maxPulseMs: this.maxPulseMs }, 'relay pulse capped');
    }
    this.#endAt = Math.max(this.#endAt, Math.min(wanted, cap));
    this.#cancelTimer();
    // The relay's own end of the pulse: independent of whoever asked for it.
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.stats.endedByRelay++;
      this.release();
    }, Math.max(0, this.#endAt - now));
  }

  #hold(): void {
    this.#cancelTimer();
    if (!this.#held || this.#pulseFrom !== null) this.#energise();
    this.#pulseFrom = null;
    this.#held = true;
  }

  #energise(): void {
    try {
      this.#line.write(pinLevel('active', this.activeLow));
      this.#fault = null;
    } catch (err) {
      this.release(); // whatever the write did, put the safe level back
      this.#fault = errorText(err);
      throw err;
    }
  }

  #writeReleased(): void {
    try {
      this.#line.write(deEnergisedPin(this.activeLow));
      if (this.#retry) clearTimeout(this.#retry);
      this.#retry = null;
      if (this.#fault !== null) this.#log.warn({ relay: this.name, releaseFailures: this.stats.releaseFailures }, 'relay released after failed writes');
      this.#fault = null;
    } catch (err) {
      // A relay that cannot be released is the one fault that must not be left alone: keep trying, loudly.
      this.stats.releaseFailures++;
      this.#fault = errorText(err);
      this.#loud.error('relay release failed; retrying', { relay: this.name, err: this.#fault, releaseFailures: this.stats.releaseFailures });
      if (!this.#retry && !this.#closed) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          if (!this.energised) this.#writeReleased();
        }, this.retryMs);
      }
    }
  }

  #cancelTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
