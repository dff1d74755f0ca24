/**
 * The gate's event bus: how its parts tell each other what happened, in place of late-bound
 * callbacks (the Zigbee2MQTT way). Every event is typed here; a part subscribes under an owner
 * (usually itself) and `removeListeners(owner)` on stop drops all it added.
 *
 * Emitting never throws and never waits: a listener that fails is logged and the others still run,
 * so recording an event can never fail because somebody listening to it did.
 */
import type { Logger } from '../base/log.js';
import type { GateEvent } from './events.js';
import type { IndicatorPattern, PhaseName } from './gate/machine.js';

export type DocumentKind = 'trust' | 'policy' | 'tokens' | 'holders';

export interface BusEvents {
  /**
   * An event was committed to the outbox under `seq` (the uplink publishes it at once). A decision's
   * `displayName` (§2-masked) rides along for the guard's screen only: it is never recorded.
   */
  eventRecorded: { seq: number; event: GateEvent; displayName?: string | null };
  /** The gate state machine moved (phase, holds, alarm, relay): console and R/status follow it. */
  gateChanged: { phase: PhaseName; relay: 'active' | 'inactive'; holds: number; alarm: boolean; queued: number; indicator: IndicatorPattern };
  /** Signed documents or lists were applied: the verifier reloads, status is republished. */
  documentsChanged: { kinds: DocumentKind[] };
  /** A part's health changed (driver connected or lost, broker up or down, relay fault). */
  healthChanged: { part: string; ok: boolean; critical: boolean; detail?: string; unhealthySince?: number };
  /** The outbox shrank because an ack covered events (depth after). */
  eventsAcked: { upTo: number; depth: number };
  /** A granted scan reached the relay: ms from the scan's arrival to the pulse (metrics). */
  relayPulsed: { seq: number; scanToRelayMs: number };
  /** The broker link came up or went down. */
  linkChanged: { connected: boolean; reason?: string };
  /** A signed message from the backend was refused (`command` for R/cmd, else `envelope`). */
  messageRefused: { kind: 'envelope' | 'command'; reason: string };
  /** A guard signed in to the console, or failed to (`kiosk`: the gate's own screen). */
  guardSignIn: { ok: boolean; guard?: string; kiosk?: boolean };
}

export type BusEvent = keyof BusEvents;
type Listener<K extends BusEvent> = (payload: BusEvents[K]) => void;

/** The one Logger (base/log.ts). */
export type BusLogger = Logger;

export class EventBus {
  private readonly listeners = new Map<BusEvent, { owner: object; fn: Listener<BusEvent> }[]>();

  constructor(private readonly log?: BusLogger) {}

  on<K extends BusEvent>(event: K, owner: object, fn: Listener<K>): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, fn: fn as Listener<BusEvent> });
    this.listeners.set(event, list);
  }

  emit<K extends BusEvent>(event: K, payload: BusEvents[K]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const { fn } of [...list]) {
      try {
        fn(payload);
      } catch (err) {
        this.log?.error({ err, event }, 'bus listener failed');
      }
    }
  }

  /** Drops every listener `owner` added (a part calls this on stop). */
  removeListeners(owner: object): void {
    for (const [event, list] of this.listeners) {
      const kept = list.filter((l) => l.owner !== owner);
      if (kept.length) this.listeners.set(event, kept);
      else this.listeners.delete(event);
    }
  }

  listenerCount(event: BusEvent): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}
