/** Events as §7 shapes them. The store assigns `seq`; nothing here holds an ID number, a name or scanned text. */
import { randomUUID } from 'node:crypto';
import type { Clock } from './core/ports.js';
import type { Decision } from './core/types.js';

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

export function decisionEvent(d: Decision, clock: Clock, versions: Versions, latencyUs: number): GateEvent {
  return {
    ...baseEvent('decision', clock),
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
