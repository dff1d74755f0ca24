/**
 * The one supervised-reconnect loop shared by the drivers that keep a device open (serial port,
 * HID scanner, camera source): a run that start()/stop() begin and end (attempts still in flight
 * from an earlier run see `isCurrent(run)` false and give up), failed attempts retried through the
 * one capped backoff (base/backoff.ts), the driver's state (`reconnecting` when a run begins or a
 * device is lost, `connected`, `stopped` when the run ends; each change told through `onState`),
 * and one logging policy for failures:
 *
 * - the first failure of a streak is a warning, the following ones debug lines (an unplugged
 *   scanner retried every few seconds is not worth a warning each time);
 * - resource exhaustion (EMFILE, ENFILE, EAGAIN, ENOMEM: the process or the system is short of
 *   descriptors, processes or memory) is ONE warning line per 10 s whatever the streak, with the
 *   number of failures it stands for, and is survived like any other failure: retried later.
 *
 * Nothing here throws; a retry's attempt function must not either.
 */
import { Backoff, type BackoffOptions } from '../../base/backoff.js';
import { isResourceExhaustion } from '../../base/errors.js';
import { errorText, RateLimitedLog, type Logger } from '../../base/log.js';
import type { DriverState } from '../types.js';

export interface SupervisorOptions {
  /** Names the driver in log lines (`driver` field). */
  driver: string;
  /** What fails, for messages: `serial port open` → "serial port open failed; retrying with backoff". */
  what: string;
  /** Level of the first failure of a streak, default `warn`. */
  firstFailure?: 'warn' | 'error';
  log: Logger;
  backoff?: BackoffOptions;
  /** Random source for backoff jitter (tests). */
  random?: () => number;
  /** Period of the resource-exhaustion line, ms, default 10000. */
  exhaustionLogMs?: number;
  /** Each change of the driver's state (the driver emits its `state` event here). */
  onState?: (state: DriverState) => void;
}

export class Supervisor {
  readonly backoff: Backoff;
  readonly #o: SupervisorOptions;
  readonly #exhaustion: RateLimitedLog;
  #running = false;
  #run = 0;
  #streak = 0;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  #state: DriverState = 'stopped';

  constructor(o: SupervisorOptions) {
    this.#o = o;
    this.backoff = new Backoff(o.backoff, o.random);
    this.#exhaustion = new RateLimitedLog(o.log, o.exhaustionLogMs ?? 10_000);
  }

  get running(): boolean {
    return this.#running;
  }

  get state(): DriverState {
    return this.#state;
  }

  setState(state: DriverState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#o.onState?.(state);
  }

  /** The current run, to compare with `isCurrent` after each await of an attempt. */
  get run(): number {
    return this.#run;
  }

  /** Failed attempts since the last success. */
  get failStreak(): number {
    return this.#streak;
  }

  /** Begins a run; false when one is running already. */
  start(): boolean {
    if (this.#running) return false;
    this.#running = true;
    this.#run++;
    return true;
  }

  /** A driver's start(): begins a run, `reconnecting`, and makes its first attempt; resolves after that attempt (at once when a run is going already). */
  async begin(firstAttempt: () => Promise<void>): Promise<void> {
    if (!this.start()) return;
    this.setState('reconnecting');
    await firstAttempt();
  }

  /** A driver's stop(): ends the run, lets `release` close the device, then `stopped`. */
  async end(release: () => Promise<void> | void): Promise<void> {
    this.stop();
    await release();
    this.setState('stopped');
  }

  /** Ends the run: a pending retry is cancelled, a pending pause ends at once. */
  stop(): void {
    this.#running = false;
    this.#run++;
    this.#cancel();
  }

  isCurrent(run: number): boolean {
    return this.#running && run === this.#run;
  }

  /**
   * Counts and logs a failed attempt (see the policy above) and returns the delay before the next
   * one. `fields` are added to the log line (never personal data).
   */
  failed(err: unknown, fields: object = {}): number {
    const delayMs = this.backoff.next();
    const first = this.#streak++ === 0;
    const line = { driver: this.#o.driver, err: errorText(err), attempt: this.#streak, retryInMs: delayMs, ...fields };
    if (isResourceExhaustion(err)) this.#exhaustion.warn(`${this.#o.what}: resource exhausted; retrying with backoff`, line);
    else if (first) this.#o.log[this.#o.firstFailure ?? 'warn'](line, `${this.#o.what} failed; retrying with backoff`);
    else this.#o.log.debug(line, `${this.#o.what} failed`);
    return delayMs;
  }

  /** `failed(err)`, then `attempt()` after the delay (unless the run ends first). */
  retryAfter(err: unknown, attempt: () => void, fields?: object): void {
    this.#schedule(this.failed(err, fields), attempt);
  }

  /** `attempt()` after the next backoff delay, without counting a failure (a device lost after it was up: the caller logged that). */
  retryLater(attempt: () => void): void {
    this.#schedule(this.backoff.next(), attempt);
  }

  #schedule(delayMs: number, attempt: () => void): void {
    if (!this.#running) return;
    this.#cancel();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#running) attempt();
    }, delayMs);
  }

  /** `failed(err)`, then resolves after the delay, or at once when the run ends (for read loops). */
  pauseAfter(err: unknown, fields?: object): Promise<void> {
    const delayMs = this.failed(err, fields);
    if (!this.#running) return Promise.resolve();
    this.#cancel();
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#wake = null;
        resolve();
      }, delayMs);
    });
  }

  /** An attempt succeeded: the streak ends; the backoff starts again from its first delay unless `resetBackoff` is false (the caller resets it once the device has stayed up). */
  connected(resetBackoff = true): void {
    this.#streak = 0;
    if (resetBackoff) this.backoff.reset();
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
