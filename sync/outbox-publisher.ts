/**
 * Publishes the outbox (§7): events in `seq` order, in batches on `R/events` (QoS 1), with a bounded
 * number of batches awaiting the backend's ack. A row leaves the store only when a retained
 * `R/events/ack {"upTo"}` covers it: PUBACK just means the broker has the message, the ack means the
 * backend stored it. After a reconnect, or when acks stop coming, publishing restarts after the
 * highest seq acked; the backend de-duplicates on (gate, seq).
 *
 * An ack moves the window at once, but the rows it covers are deleted at most every ACK_DELETE_MS
 * (one durable DELETE for many acks): under a burst the backend acks every round trip, and an fsync
 * per ack halved the decisions a gate could record.
 *
 * Bounded retention: beyond `maxEvents` rows the oldest are dropped and a `system` event naming the
 * dropped range is recorded in the same transaction (GateStore.trimOutbox), so the loss is reported,
 * never silent, and the backend can account for the hole.
 *
 *   events committed ──► outbox (SQLite) ──pump──► R/events ──► backend stores ──► R/events/ack
 *          ▲                    ▲                                                     │
 *          └ Verifier etc.      └──────────── ackUpTo(upTo) deletes ◄─────────────────┘
 */
import type { GateStore } from '../device/store/store.js';
import type { Clock } from '../device/core/ports.js';
import { baseEvent } from '../device/events.js';
import type { GateTopics } from './topics.js';
import type { EventsBatch, OutboxCounters, WireEvent } from './contract.js';
import type { GateConnection } from './connection.js';
import type { Logger } from '../base/log.js';
import { checkInteger } from '../base/check.js';

export interface OutboxOptions {
  /** Events per `R/events` message, [1…2000], default 200. */
  batchSize?: number;
  /** Batches published but not yet covered by an ack, [1…64], default 8. */
  maxBatchesInFlight?: number;
  /** Without ack progress for this long, resend after the highest seq acked. [1000…600000], default 15000 ms. */
  ackTimeoutMs?: number;
  /** Bounded retention: most events kept, [100…100000000], default 1,000,000. */
  maxEvents?: number;
  /** How often retention and resends are checked and the outbox polled, default 1000 ms: a safety net, since every event recorded is published at once (GateLink hears `eventRecorded`). */
  pollMs?: number;
}

/** Longest a recorded event waits for the batch ahead of it to be acked before it is sent anyway. */
const KICK_GATHER_MS = 5;

/** Longest acked rows stay in the store before their (fsynced) deletion. */
const ACK_DELETE_MS = 200;

interface InFlight {
  first: number;
  last: number;
}

export class OutboxPublisher {
  private readonly batchSize: number;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly maxEvents: number;
  private readonly pollMs: number;
  private online = false;
  private session = 0;
  /** Highest seq published on this connection (resending starts over after `ackedUpTo`). */
  private sentUpTo = 0;
  private inFlight: InFlight[] = [];
  private ackedUpTo = 0;
  /** Highest ack whose rows are still to be deleted (0: none), and the timer that deletes them. */
  private deleteUpTo = 0;
  private deleteTimer: NodeJS.Timeout | null = null;
  private lastProgressMs = 0;
  /** ackTimeoutMs, doubled after each resend without progress (up to 16×), back to 1× on progress. */
  private resendAfterMs: number;
  private timer: NodeJS.Timeout | null = null;
  private retentionDue = 0;
  private pumping = false;
  private kicked = false;
  /** Counters for R/status and the bench. */
  readonly stats = { batches: 0, events: 0, resends: 0, acks: 0, ignoredAcks: 0, dropped: 0 };

  constructor(
    private readonly store: GateStore,
    private readonly conn: Pick<GateConnection, 'send' | 'connected'>,
    private readonly topics: GateTopics,
    private readonly clock: Clock,
    private readonly log: Logger,
    options: OutboxOptions = {},
    private readonly onChange: () => void = () => {},
  ) {
    this.batchSize = range('batchSize', options.batchSize ?? 200, 1, 2000);
    this.maxInFlight = range('maxBatchesInFlight', options.maxBatchesInFlight ?? 8, 1, 64);
    this.ackTimeoutMs = range('ackTimeoutMs', options.ackTimeoutMs ?? 15_000, 1000, 600_000);
    this.maxEvents = range('maxEvents', options.maxEvents ?? 1_000_000, 100, 100_000_000);
    this.pollMs = range('pollMs', options.pollMs ?? 1000, 10, 60_000);
    this.resendAfterMs = this.ackTimeoutMs;
  }

  /** Starts polling (retention runs even while offline). */
  start(): void {
    if (this.timer) return;
    this.enforceRetention();
    this.timer = setInterval(() => this.tick(), this.pollMs);
    this.timer.unref?.();
  }

  /** Deletes what the acks so far cover, so a clean stop leaves nothing acked in the store. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.online = false;
    this.deleteAcked();
  }

  /** A new connection: resend everything after the highest seq acked. */
  connected(session: number): void {
    this.online = true;
    this.session = session;
    this.resendAfterMs = this.ackTimeoutMs;
    this.resetWindow();
    this.pump();
  }

  disconnected(): void {
    this.online = false;
    this.inFlight = [];
  }

  /**
   * New events were recorded: publish without waiting for the next poll. With nothing awaiting an
   * ack they go out right after this turn of the event loop (events recorded in the same turn
   * together); while a batch is out, a burst gathers until its ack arrives (acked() publishes) or
   * KICK_GATHER_MS pass, so a burst travels in a few large batches rather than one per event.
   */
  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    const go = () => {
      this.kicked = false;
      this.pump();
    };
    if (this.inFlight.length === 0) setImmediate(go);
    else setTimeout(go, KICK_GATHER_MS).unref?.();
  }

  /**
   * A verified `R/events/ack` for this gate arrived (retained on subscribe, then after each stored
   * batch); the downlink has checked its signature, audience and that `upTo` is not beyond the last seq.
   */
  acked(upTo: number): void {
    const last = this.store.outboxBounds().lastSeq;
    if (upTo > last) {
      // Checked on ingest already; kept so no path can delete on an ack beyond any seq handed out.
      this.ackRefused();
      this.log.warn({ upTo, lastSeq: last }, 'ignoring an events ack beyond the last seq recorded');
      return;
    }
    if (upTo > this.ackedUpTo) {
      this.lastProgressMs = this.clock.monoMs();
      this.resendAfterMs = this.ackTimeoutMs;
    }
    this.ackedUpTo = Math.max(this.ackedUpTo, upTo);
    this.stats.acks++;
    this.inFlight = this.inFlight.filter((b) => b.last > upTo);
    // The deletion waits for the timer; publishing does not. A crash before it runs leaves acked rows
    // in the store: the next run sends them again and the backend, which de-duplicates on
    // (gate, seq), sees a few events it already stored. Only seqs an ack covered are ever deleted.
    this.deleteUpTo = Math.max(this.deleteUpTo, upTo);
    if (!this.timer) this.deleteAcked(); // stopped (or not started): no timer would flush it
    else if (!this.deleteTimer) {
      this.deleteTimer = setTimeout(() => this.deleteAcked(), ACK_DELETE_MS);
      this.deleteTimer.unref?.();
    }
    // Every ack changes R/status (the counters, ackedUpTo), also one that deleted nothing.
    this.onChange();
    this.pump();
  }

  /** Deletes the rows covered by the acks received since the last deletion. */
  private deleteAcked(): void {
    if (this.deleteTimer) clearTimeout(this.deleteTimer);
    this.deleteTimer = null;
    const upTo = this.deleteUpTo;
    if (upTo === 0) return;
    this.deleteUpTo = 0;
    try {
      const removed = this.store.ackUpTo(upTo);
      this.log.debug({ upTo, removed }, 'events acked');
    } catch (e) {
      // Kept for the next ack, tick or stop; the rows are not sent again meanwhile (the window starts after ackedUpTo).
      this.deleteUpTo = Math.max(this.deleteUpTo, upTo);
      this.log.error({ err: e, upTo }, 'acked events not deleted');
    }
  }

  /** An ack was refused (forged, for another gate, beyond the last seq): it deleted nothing. */
  ackRefused(): void {
    this.stats.ignoredAcks++;
    this.onChange();
  }

  /** What R/status shows of the publisher. */
  snapshot(): OutboxCounters {
    return { ackedUpTo: this.ackedUpTo, sentUpTo: this.sentUpTo, batchesInFlight: this.inFlight.length, ...this.stats };
  }

  private tick(): void {
    const now = this.clock.monoMs();
    if (now >= this.retentionDue) {
      this.deleteAcked(); // retention must not count acked rows as dropped
      this.retentionDue = now + Math.max(this.pollMs, 5000);
      this.enforceRetention();
    }
    if (this.online && this.inFlight.length > 0 && now - this.lastProgressMs > this.resendAfterMs) {
      // Lost on the way (a broker restart, a backend that dropped its session): send the window
      // again. Backing off keeps a long backend outage from piling resends up at the broker.
      this.stats.resends++;
      this.log.warn({ ackedUpTo: this.ackedUpTo, sentUpTo: this.sentUpTo, waitedMs: this.resendAfterMs }, 'no events ack in time; resending after the highest seq acked');
      this.resendAfterMs = Math.min(this.resendAfterMs * 2, this.ackTimeoutMs * 16);
      this.resetWindow();
    }
    this.pump();
  }

  private resetWindow(): void {
    // Not from the first row held: rows acked but not yet deleted (ACK_DELETE_MS) need no resend.
    this.sentUpTo = this.ackedUpTo;
    this.inFlight = [];
    this.lastProgressMs = this.clock.monoMs();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.online && this.conn.connected && this.inFlight.length < this.maxInFlight) {
        const rows = this.store.pendingEvents(this.sentUpTo, this.batchSize);
        if (rows.length === 0) break;
        const first = rows[0]!.seq;
        const last = rows[rows.length - 1]!.seq;
        const batch: EventsBatch = { gate: this.topics.gate, session: this.session, events: rows.map((r) => r.event as WireEvent) };
        if (this.inFlight.length === 0) this.lastProgressMs = this.clock.monoMs();
        this.inFlight.push({ first, last });
        this.sentUpTo = last;
        this.stats.batches++;
        this.stats.events += rows.length;
        // No await: batches are pipelined; the window is bounded by the application ack, and a failed
        // publish means a lost connection, after which everything unacked is sent again anyway.
        this.conn.send('events', batch, { qos: 1 }).catch((e: Error) => {
          this.log.debug({ err: e.message, first, last }, 'events batch not published');
        });
      }
    } catch (e) {
      this.log.error({ err: e }, 'outbox publishing failed');
    } finally {
      this.pumping = false;
    }
  }

  private enforceRetention(): void {
    try {
      const r = this.store.trimOutbox(
        this.maxEvents,
        (dropped) => ({ ...baseEvent('system', this.clock), what: 'events_dropped', dropped }),
        this.clock.nowMs(),
      );
      if (r) {
        this.stats.dropped += r.count;
        this.log.error({ from: r.from, to: r.to, count: r.count, maxEvents: this.maxEvents }, 'outbox full: oldest undelivered events dropped');
        this.onChange();
      }
    } catch (e) {
      this.log.error({ err: e }, 'outbox retention failed');
    }
  }
}

function range(name: string, v: number, min: number, max: number): number {
  return checkInteger(`outbox.${name}`, v, min, max);
}
