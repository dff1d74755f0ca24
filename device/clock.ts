/** Clocks for the decision core's Clock port. */
import { performance } from 'node:perf_hooks';
import type { Clock } from './core/ports.js';

/** The system clock; whether it is trusted comes from configuration until real trust sources arrive. */
export class SystemClock implements Clock {
  constructor(private readonly isTrusted = true) {}
  nowMs(): number {
    return Date.now();
  }
  monoMs(): number {
    return performance.now();
  }
  trusted(): boolean {
    return this.isTrusted;
  }
}

/** Decides as if the trusted time were fixed (`passgate verify --now`, tests). */
export class FixedClock implements Clock {
  constructor(public epochMs: number, private readonly isTrusted = true) {}
  nowMs(): number {
    return this.epochMs;
  }
  monoMs(): number {
    return performance.now();
  }
  trusted(): boolean {
    return this.isTrusted;
  }
}
