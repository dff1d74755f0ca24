import { PassgateError } from '../../device/core/errors.js';
import type { BackoffOptions } from '../types.js';

/** Capped exponential backoff: initial, initial·factor, … up to max, each ± jitter. */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initialMs = checkRange('backoff.initialMs', options.initialMs ?? 250, 1, 60_000);
    this.maxMs = checkRange('backoff.maxMs', options.maxMs ?? Math.max(10_000, this.initialMs), this.initialMs, 600_000);
    this.factor = checkRange('backoff.factor', options.factor ?? 2, 1, 10);
    this.jitter = checkRange('backoff.jitter', options.jitter ?? 0.2, 0, 1);
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.#attempt);
    this.#attempt++;
    const spread = base * this.jitter * (this.random() * 2 - 1);
    return Math.max(1, Math.round(Math.min(this.maxMs, base + spread)));
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Validates a numeric option, naming it and its range in the error (zwave-js style). */
export function checkRange(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new PassgateError('BAD_CONFIG', `${name} must be between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  checkRange(name, value, min, max);
  if (!Number.isInteger(value)) throw new PassgateError('BAD_CONFIG', `${name} must be an integer, got ${value}`);
  return value;
}
