/**
 * The backend's event intake (§7): events stored de-duplicated on (gate, seq), a seq reused with
 * another id never overwrites (it is counted and logged), `events_dropped` ranges count as accounted
 * for, and the ack — the highest contiguous seq stored — is signed as a `passgate-ack+json` envelope
 * for `<site>/<gate>` with the federation's list signer (revision 2: an unsigned ack deletes nothing).
 */
import { audienceOf, type EventsAck } from '../../device/core/ack.js';
import { isEventsDropped, type EventsBatch } from '../../sync/contract.js';
import type { Logger } from '../../base/log.js';
import { signEnvelope, type SigningKey } from '../lib/issuer.js';
import type { BackendStore } from './store.js';

export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  session: number;
  body: Record<string, unknown>;
}

export interface Cursor {
  upTo: number;
  duplicates: number;
  conflicts: number;
}

export class EventIntake {
  readonly stats = { eventBatches: 0, eventsStored: 0, duplicates: 0, conflicts: 0 };
  private readonly q;

  constructor(
    private readonly store: BackendStore,
    private readonly site: string,
    private readonly signer: SigningKey,
    private readonly nowMs: () => number,
    private readonly log: Logger,
  ) {
    const db = store.db;
    this.q = {
      insert: db.prepare('INSERT OR IGNORE INTO events (gate, seq, id, ts_ms, type, session, received_at_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      eventId: db.prepare<[string, number], string>('SELECT id FROM events WHERE gate = ? AND seq = ?').pluck(),
      nextSeqs: db.prepare<[string, number], number>('SELECT seq FROM events WHERE gate = ? AND seq > ? ORDER BY seq LIMIT 1000').pluck(),
      gapCovering: db.prepare<[string, number, number], number | null>('SELECT max("to") FROM gaps WHERE gate = ? AND "from" <= ? AND "to" > ?').pluck(),
      addGap: db.prepare('INSERT OR REPLACE INTO gaps (gate, "from", "to") VALUES (?, ?, ?)'),
      cursor: db.prepare<[string], { up_to: number; duplicates: number; conflicts: number }>('SELECT up_to, duplicates, conflicts FROM cursors WHERE gate = ?'),
      setCursor: db.prepare(
        'INSERT INTO cursors (gate, up_to, duplicates, conflicts) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(gate) DO UPDATE SET up_to = excluded.up_to, duplicates = excluded.duplicates, conflicts = excluded.conflicts',
      ),
      allCursors: db.prepare<[], { gate: string; up_to: number }>('SELECT gate, up_to FROM cursors'),
      eventsOf: db.prepare<[string], { seq: number; id: string; type: string; session: number; body: string }>(
        'SELECT seq, id, type, session, body FROM events WHERE gate = ? ORDER BY seq',
      ),
      seqsOf: db.prepare<[string], number>('SELECT seq FROM events WHERE gate = ? ORDER BY seq').pluck(),
      countOf: db.prepare<[string], number>('SELECT count(*) FROM events WHERE gate = ?').pluck(),
    };
  }

  /** Stores a batch from `gate`'s own topic; returns the contiguous ack to publish. */
  take(gate: string, batch: EventsBatch): number {
    if (batch.gate !== gate) throw new Error(`events batch names gate ${batch.gate} on ${gate}'s topic`);
    this.stats.eventBatches++;
    const now = this.nowMs();
    return this.store.db
      .transaction(() => {
        const cur = this.q.cursor.get(gate) ?? { up_to: 0, duplicates: 0, conflicts: 0 };
        let { duplicates, conflicts } = cur;
        for (const e of batch.events) {
          const r = this.q.insert.run(gate, e.seq, e.id, e.tsMs, e.type, batch.session, now, JSON.stringify(e));
          if (r.changes === 1) {
            this.stats.eventsStored++;
            if (isEventsDropped(e)) {
              this.q.addGap.run(gate, e.dropped.from, e.dropped.to);
              this.log.warn({ gate, ...e.dropped }, 'gate reports dropped events');
            }
          } else if (this.q.eventId.get(gate, e.seq) === e.id) {
            duplicates++;
            this.stats.duplicates++;
          } else {
            // Same (gate, seq), another event: the gate reused a seq. Never overwrite; make it loud.
            conflicts++;
            this.stats.conflicts++;
            this.log.error({ gate, seq: e.seq }, 'seq reused by gate with a different event');
          }
        }
        const upTo = this.advance(gate, cur.up_to);
        this.q.setCursor.run(gate, upTo, duplicates, conflicts);
        return upTo;
      })
      .immediate();
  }

  /** The signed `R/events/ack` envelope saying every event of `gate` up to `upTo` is stored. */
  signAck(gate: string, upTo: number, iat = Math.floor(this.nowMs() / 1000)): string {
    const ack: EventsAck = { aud: audienceOf({ site: this.site, gate }), upTo, iat };
    return signEnvelope(this.signer, 'passgate-ack+json', ack);
  }

  /** Every gate's contiguous ack (republished, retained, on every reconnect). */
  acks(): { gate: string; upTo: number }[] {
    return this.q.allCursors.all().map((c) => ({ gate: c.gate, upTo: c.up_to }));
  }

  cursor(gate: string): Cursor {
    const c = this.q.cursor.get(gate);
    return { upTo: c?.up_to ?? 0, duplicates: c?.duplicates ?? 0, conflicts: c?.conflicts ?? 0 };
  }

  storedSeqs(gate: string): number[] {
    return this.q.seqsOf.all(gate) as number[];
  }

  storedCount(gate: string): number {
    return this.q.countOf.get(gate) as number;
  }

  storedEvents(gate: string): StoredEvent[] {
    return this.q.eventsOf.all(gate).map((r) => ({ seq: r.seq, id: r.id, type: r.type, session: r.session, body: JSON.parse(r.body) }));
  }

  /** The highest seq such that every seq up to it is stored or reported dropped. */
  private advance(gate: string, from: number): number {
    let c = from;
    for (;;) {
      const gapEnd = this.q.gapCovering.get(gate, c + 1, c) as number | null | undefined;
      if (gapEnd != null) {
        c = gapEnd;
        continue;
      }
      const seqs = this.q.nextSeqs.all(gate, c) as number[];
      let moved = false;
      for (const s of seqs) {
        if (s !== c + 1) break;
        c = s;
        moved = true;
      }
      if (!moved) return c;
    }
  }
}
