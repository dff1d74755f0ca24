/**
 * The one capped exponential backoff (device reopen, serial/HID/camera reconnects, the MQTT link):
 * initial, initial·factor, … up to max, each ± jitter.
 */
import { checkRange } from './check.js';

export interface BackoffOptions {
  /** First delay, [1…600000] ms, default 250. */
  initialMs?: number;
  /** Cap, [initialMs…3600000] ms, default max(10000, initialMs). */
  maxMs?: number;
  /** Growth per failed attempt, [1…10], default 2. */
  factor?: number;
  /** Random spread as a fraction of the delay, [0…1], default 0.2 (0 in tests for exact delays). */
  jitter?: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  #attempt = 0;

  /** `prefix` names the options in range errors (`broker.reconnect.` → `broker.reconnect.initialMs`). */
  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random, prefix = 'backoff.') {
    this.initialMs = checkRange(`${prefix}initialMs`, options.initialMs ?? 250, 1, 600_000);
    this.maxMs = checkRange(`${prefix}maxMs`, options.maxMs ?? Math.max(10_000, this.initialMs), this.initialMs, 3_600_000);
    this.factor = checkRange(`${prefix}factor`, options.factor ?? 2, 1, 10);
    this.jitter = checkRange(`${prefix}jitter`, options.jitter ?? 0.2, 0, 1);
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** Math.min(this.#attempt, 64));
    this.#attempt++;
    const spread = base * this.jitter * (this.random() * 2 - 1);
    return Math.max(1, Math.round(Math.min(this.maxMs, base + spread)));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
