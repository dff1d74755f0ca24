/**
 * Events as §7 shapes them, and the one place that records them: EventRecorder stamps a body (id,
 * wall and monotonic time, clock trust), commits it to the outbox and only then tells the bus, so
 * the uplink publishes at once. The store assigns `seq`; nothing here holds an ID number, a name or
 * scanned text.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './core/ports.js';
import type { Decision } from './core/types.js';
import type { GateStore } from './store/store.js';

export type EventType = 'decision' | 'passage' | 'override' | 'command' | 'alarm' | 'system';

export interface Versions {
  trust: number;
  policy: number;
  tokens: number;
  holders: number;
}

export interface GateEvent {
  id: string;
  tsMs: number;
  monoMs: number;
  clockTrusted: boolean;
  type: EventType;
  [field: string]: unknown;
}

export function baseEvent(type: EventType, clock: Clock): GateEvent {
  return { id: randomUUID(), tsMs: clock.nowMs(), monoMs: Math.round(clock.monoMs()), clockTrusted: clock.trusted(), type };
}

/** What an event says, before the recorder stamps it. */
export interface EventBody {
  type: EventType;
  [field: string]: unknown;
}

export function decisionBody(d: Decision, versions: Versions, latencyUs: number): EventBody {
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
    private readonly bus?: { emit(event: 'eventRecorded', payload: { seq: number; event: GateEvent }): void },
  ) {}

  /**
   * Commits `body` (with `opened`, the handle an `open` decision lets through, for anti-passback in
   * the same transaction) and returns its seq; throws when the commit fails. `eventRecorded` is
   * emitted after the commit: whoever hears it finds the row in the outbox.
   */
  record(body: EventBody, opened: string | null = null): number {
    const event: GateEvent = { ...baseEvent(body.type, this.clock), ...body };
    const seq = this.store.recordEvent(event, event.tsMs, opened);
    this.bus?.emit('eventRecorded', { seq, event });
    return seq;
  }
}
