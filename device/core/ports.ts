/** What the decision core needs from the world, as interfaces: the runtime supplies store, clock, trust. */
import type { ListEntry, ListMeta, ListName, Policy } from './types.js';
import type { Trust } from './trust.js';
import type { ModeOverride } from './mode.js';

export interface Clock {
  /** Wall-clock time, ms since the epoch. */
  nowMs(): number;
  /** Monotonic ms (for event ordering and timers; unaffected by clock steps). */
  monoMs(): number;
  /** Whether the gate can vouch for `nowMs()` (timesync, RTC, or the backend's signed time). */
  trusted(): boolean;
}

export interface ListReader {
  entry(list: ListName, key: string): ListEntry | undefined;
  meta(list: ListName): ListMeta;
}

export interface PassbackReader {
  /** When this handle last opened the gate, ms since the epoch, if remembered. */
  lastOpenedMs(handle: string): number | undefined;
}

export interface DecisionContext {
  clock: Clock;
  /** null before the first trust bundle. */
  trust: Trust | null;
  policy: Policy;
  lists: ListReader;
  passback: PassbackReader;
  /** A `set-mode` override in force, if any. */
  mode?: ModeOverride | null;
}

/** The backend's signed answer to an online holder look-up (§7); `s` null means unknown. */
export interface LookupAnswer {
  holder: string;
  s: 0 | 1 | 2 | 3 | null;
  at: number;
}
