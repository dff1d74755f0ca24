/**
/**
 * Events as §7 shapes them: the one union every producer writes and the wire contract
 * (sync/contract.ts, docs/mqtt-api.md) derives from; and the one place that records them:
 * EventRecorder stamps a body (id, wall and monotonic time, clock trust), commits it to the outbox
 * and only then tells the bus, so the uplink publishes at once. The store assigns `seq`; nothing
 * here holds an ID number, a name or scanned text — handles and codes only.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './core/ports.js';
import type { Decision, Format, InputKind, Reason, Result, Status } from './core/types.js';
import type { CommandName } from './core/signed-command.js';
import type { GateStore } from './store/store.js';

export const EVENT_TYPES = ['decision', 'passage', 'override', 'command', 'alarm', 'system'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface Versions {
  trust: number;
  policy: number;
  tokens: number;
  holders: number;
}

/** What every event carries; `type` says which of the shapes below follows. */
export type EventBase = {
  id: string;
  tsMs: number;
  /** Monotonic ms of the gate's process (orders events when the wall clock is not trusted). */
  monoMs: number;
  clockTrusted: boolean;
};

/** A presentation decided (§8). `mode`: a `set-mode` override replaced the result. */
export type DecisionEvent = EventBase & {
  type: 'decision';
  input: InputKind;
  format: Format | null;
  issuer: string | null;
  handle: string | null;
  result: Result;
  reason: Reason;
  status: Status | null;
  versions: Versions;
  latencyUs: number;
  mode?: 'open' | 'deny' | 'staff';
};

/**
 * Someone went through, or a granted pass ended without anyone going through. `ref` is the seq of
 * the event that granted the pass (null for `unexpected`: nobody was granted one).
 */
export type PassageEvent = EventBase & {
  type: 'passage';
  ref: number | null;
  via?: 'decision' | 'guard' | 'command';
  outcome: 'passed' | 'timeout' | 'refused' | 'cancelled' | 'unexpected';
  /** ms from the relay's opening to the passage (`passed`) or to the timeout. */
  afterMs?: number;
  /** Why a pass was refused or cancelled: `NOT_RUNNING`, `BUSY`, `ALARM`. */
  why?: string;
};

/**
 * A guard's decision on a held (`staff`) pass; `ref` is the seq of the held decision. `actor` is the
 * signed-in guard (`guard:<account>`), `note` the guard's reason. A manual open from the console:
 * `manual`, no `ref`, no input.
 */
export type OverrideEvent = EventBase & {
  type: 'override';
  ref: number | null;
  result: 'open' | 'deny';
  reason: 'GUARD_APPROVED' | 'GUARD_DENIED';
  actor: string;
  input: InputKind | null;
  format: Format | null;
  issuer: string | null;
  handle: string | null;
  heldMs: number;
  note?: string;
  manual?: true;
};

/**
 * A command whose envelope verified, run or refused (§7). `cmd`, `actor` and `jti` are what the signed
 * payload said (null only where a refused payload lacked that field or had it malformed).
 */
export type CommandEvent = EventBase & {
  type: 'command';
  cmd: CommandName | null;
  actor: string | null;
  jti: string | null;
  ok: boolean;
  /** The refusal code when `ok` is false. */
  error?: string;
};

/** The fire alarm contact changed: the relay moved first (`relay`: its logical level now). */
export type AlarmEvent = EventBase & {
  type: 'alarm';
  active: boolean;
  failMode: 'safe' | 'secure';
  relay: 'active' | 'inactive';
};

/** A held pass expired unanswered (`TIMEOUT`) or was pushed out by a newer one (`FULL`). */
export type HoldExpiredEvent = EventBase & { type: 'system'; code: 'HOLD_EXPIRED'; ref: number | null; why: 'TIMEOUT' | 'FULL' };

/**
 * Bounded retention dropped undelivered events (extension, docs/mqtt-api.md): the backend counts
 * `dropped.from…dropped.to` as accounted for, so its contiguous ack can move past the hole.
 */
export type EventsDroppedEvent = EventBase & { type: 'system'; what: 'events_dropped'; dropped: { from: number; to: number; count: number } };

export type SystemEvent = HoldExpiredEvent | EventsDroppedEvent;

/** Every event a gate records: the one union. */
export type GateEvent = DecisionEvent | PassageEvent | OverrideEvent | CommandEvent | AlarmEvent | SystemEvent;

/** An event without the fields baseEvent() adds: what the gate machine emits. */
export type EventBody = GateEvent extends infer E ? (E extends GateEvent ? Omit<E, keyof EventBase> : never) : never;

export function baseEvent<T extends EventType>(type: T, clock: Clock): EventBase & { type: T } {
  return { id: randomUUID(), tsMs: clock.nowMs(), monoMs: Math.round(clock.monoMs()), clockTrusted: clock.trusted(), type };
}

/** A decision as its event says it, before the recorder stamps it. */
export function decisionBody(d: Decision, versions: Versions, latencyUs: number): Omit<DecisionEvent, keyof EventBase> {
  return {
    type: 'decision',
    input: d.input,
    format: d.format,
    issuer: d.issuer,
    handle: d.handle,
    result: d.result,
    reason: d.reason,
    status: d.status,
    versions,
    latencyUs,
    ...(d.mode ? { mode: d.mode } : {}),
  };
}

/** Shapes and commits every event the gate records: decisions, passages, overrides, commands, alarms. */
export class EventRecorder {
  constructor(
    private readonly store: Pick<GateStore, 'recordEvent'>,
    private readonly clock: Clock,
    /** The gate's bus (device/bus.ts; typed here by what is told, so the two files need not import each other). */
    private readonly bus?: { emit(event: 'eventRecorded', payload: { seq: number; event: GateEvent; displayName?: string | null }): void },
  ) {}

  /**
   * Commits `body` (with `opened`, the handle an `open` decision lets through, for anti-passback in
   * the same transaction) and returns its seq; throws when the commit fails. `eventRecorded` is
   * emitted after the commit: whoever hears it finds the row in the outbox. `displayName` (already
   * masked) rides along on the bus for the guard's screen only: it is never recorded.
   */
  record(body: EventBody | { type: EventType; [field: string]: unknown }, opened: string | null = null, displayName?: string | null): number {
    const event = { ...baseEvent(body.type, this.clock), ...body } as GateEvent;
    const seq = this.store.recordEvent(event, event.tsMs, opened);
    this.bus?.emit('eventRecorded', displayName ? { seq, event, displayName } : { seq, event });
    return seq;
  }
}
