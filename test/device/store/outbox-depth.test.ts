/**
 * The outbox depth status reports is kept by triggers in the transaction that adds or removes each
 * event (count(*) over a million waiting events reads the whole table on every status build): it
 * stays equal to the rows held across records, acks (from another process too), retention trims and
 * a restore with holes in its seqs; a store from before the depth was kept gets it at open; a depth
 * altered on disk is what status shows and what the integrity check reports.
 */
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { DB_FILE, GateStore } from '../../../device/store/store.js';
import { MIGRATIONS } from '../../../device/store/migrations.js';
import { checkStoreIntegrity } from '../../../device/store/integrity.js';
import { removeTempDirs, tempDir as makeTempDir } from '../../helpers/temp.js';

afterEach(removeTempDirs);
const tempDir = () => makeTempDir('passgate-outbox-depth-');
const T = 1_795_737_600_000;
/** What the outbox table holds, read by a connection of its own. */
const held = (dir: string) => {
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    return {
      rows: db.prepare('SELECT count(*) FROM outbox').pluck().get() as number,
      firstTsMs: (db.prepare('SELECT ts_ms FROM outbox ORDER BY seq LIMIT 1').pluck().get() as number | undefined) ?? null,
    };
  } finally {
    db.close();
  }
};
const systemEvent = (dropped: { from: number; to: number; count: number }) => ({ type: 'system', what: 'events_dropped', dropped });

type Step = { op: 'record'; n: number } | { op: 'ack'; back: number } | { op: 'ackElsewhere'; back: number } | { op: 'trim'; keep: number };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('record' as const), n: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ op: fc.constant('ack' as const), back: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('ackElsewhere' as const), back: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ op: fc.constant('trim' as const), keep: fc.integer({ min: 2, max: 50 }) }),
);

describe('outbox depth', () => {
  it('equals the rows held after every record, ack (here or by another process) and retention trim', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), (steps) => {
        const dir = tempDir();
        const store = GateStore.open(dir, { durability: 'normal' });
        try {
          let ts = T;
          for (const step of steps) {
            const last = store.outboxStats().lastSeq;
            if (step.op === 'record') for (let i = 0; i < step.n; i++) store.recordEvent({ type: 'decision', i }, ts++);
            else if (step.op === 'ack') store.ackUpTo(Math.max(0, last - step.back));
            else if (step.op === 'ackElsewhere') {
              const other = GateStore.open(dir, { durability: 'normal' });
              other.ackUpTo(Math.max(0, last - step.back));
              other.close();
            } else store.trimOutbox(step.keep, systemEvent, ts++);
            const stats = store.outboxStats();
            const table = held(dir);
            expect(stats.depth).toBe(table.rows);
            expect(stats.oldestTsMs).toBe(table.firstTsMs);
          }
        } finally {
          store.close();
        }
        expect(checkStoreIntegrity(dir).problems).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('counts a restore whose seqs have holes (salvage of a damaged store), and the oldest is the first held', () => {
    const dir = tempDir();
    const store = GateStore.open(dir, { durability: 'normal' });
    store.restore({ meta: [], counters: [], events: [3, 4, 9, 10, 11].map((seq) => ({ seq, tsMs: T + seq, event: JSON.stringify({ type: 'decision', seq }) })), floorSeq: 20 });
    expect(store.outboxStats()).toMatchObject({ depth: 5, firstSeq: 3, oldestTsMs: T + 3 });
    store.ackUpTo(9);
    expect(store.outboxStats()).toMatchObject({ depth: 2, firstSeq: 10, oldestTsMs: T + 10 });
    store.close();
  });

  it('a store from before the depth was kept gets it at open; a read-only view of it counts', () => {
    const dir = tempDir();
    const old = new Database(join(dir, DB_FILE));
    old.exec(MIGRATIONS.slice(0, 4).join('\n'));
    old.pragma('user_version = 4');
    const insert = old.prepare('INSERT INTO outbox (ts_ms, event) VALUES (?, ?)');
    for (let i = 0; i < 37; i++) insert.run(T + i, '{"type":"decision"}');
    old.close();

    const view = GateStore.openReadOnly(dir);
    expect(view.outboxStats().depth).toBe(37);
    view.close();
    expect(checkStoreIntegrity(dir).problems).toEqual([]);

    const store = GateStore.open(dir, { durability: 'normal' });
    expect(store.outboxStats().depth).toBe(37);
    store.recordEvent({ type: 'decision' }, T + 100);
    store.ackUpTo(10);
    expect(store.outboxStats().depth).toBe(28);
    store.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    expect(db.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_depth'").pluck().get()).toBe(28);
    db.close();
  });

  it('status reads the depth kept, not a count: one altered on disk shows, and the integrity check reports it', () => {
    const dir = tempDir();
    const store = GateStore.open(dir, { durability: 'normal' });
    for (let i = 0; i < 5; i++) store.recordEvent({ type: 'decision', i }, T + i);
    store.close();
    const db = new Database(join(dir, DB_FILE));
    db.prepare("UPDATE meta SET value = '500' WHERE key = 'outbox_depth'").run();
    db.close();

    const view = GateStore.openReadOnly(dir);
    expect(view.outboxStats().depth).toBe(500);
    view.close();
    expect(checkStoreIntegrity(dir).problems).toEqual(['outbox holds 5 events but its depth says 500']);
    expect(checkStoreIntegrity(dir, { scope: 'small-tables' }).problems).toEqual(['outbox holds 5 events but its depth says 500']);
  });
});
