/**
 * The common shape of every input driver (serial scanner, HID scanner, ID-card reader).
 *
 * A driver is a typed event emitter of `scan` events whose payload is exactly what the decision core
 * takes (`Presented`, base/presented.ts), plus `state` events when its connection changes. It opens
 * its device by itself on `start()`, reopens it with capped exponential backoff after an unplug, close
 * or error, and reports `health()` for the watchdog and the technician screen. A missing device is a
 * health state, never a thrown error or an unhandled rejection.
 *
 * Personal data: a `scan` carries an ID number and a masked name in memory, to the verifier only;
 * drivers never log either (nor scanned text).
 */
import type { Presented } from '../base/presented.js';

export type { Presented, InputKind } from '../base/presented.js';
export type { Logger } from '../base/log.js';
export type { BackoffOptions } from '../base/backoff.js';

/** `reconnecting` covers the first open too: the driver is trying and will keep trying. */
export type DriverState = 'connected' | 'reconnecting' | 'stopped';

export type Counters = Record<string, number>;

export interface DriverHealth<C extends Counters = Counters> {
  state: DriverState;
  /** Monotonic counts since construction (scans, unreadable, opens, disconnects, …; per driver). */
  counters: C;
  /** The last device or protocol error, a short technical text without personal data. */
  lastError?: string;
}

/** Side facts about a scan, never personal data. */
export interface ScanMeta {
  /** Which driver produced it (its `name` option). */
  driver: string;
  /** `performance.now()` when the scan was complete (for latency figures). */
  atMs: number;
  /** AIM symbology identifier when the device sent one (`]Q1`). */
  aim?: string;
}

export interface InputDriverEvents {
  scan: [scan: Presented, meta: ScanMeta];
  state: [state: DriverState];
}

/** Minimal typed listener API every driver offers (implemented by `TypedEmitter`). */
export interface InputDriver<C extends Counters = Counters> {
  readonly name: string;
  /** Begins opening the device; resolves after the first attempt, whatever its outcome. */
  start(): Promise<void>;
  /** Closes the device and cancels reconnects; idempotent. */
  stop(): Promise<void>;
  health(): DriverHealth<C>;
  on<K extends keyof InputDriverEvents>(event: K, listener: (...args: InputDriverEvents[K]) => void): unknown;
  off<K extends keyof InputDriverEvents>(event: K, listener: (...args: InputDriverEvents[K]) => void): unknown;
}
