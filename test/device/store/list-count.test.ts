/**
 * Each list's entry count is kept beside its version and digest by every write (status reads it
 * instead of counting millions of rows on each republish): it stays equal to the rows the table
 * holds across puts, replacements, deletes, snapshot swaps and cached holders; a store from before
 * the count was kept gets it at open; a count altered on disk is what status shows and what the
 * integrity check reports.
 */
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, GateStore } from '../../../device/store/store.js';
import { MIGRATIONS } from '../../../device/store/migrations.js';
import { digestOf } from '../../../device/store/list-digest.js';
import { checkStoreIntegrity } from '../../../device/store/integrity.js';
import { gateStatus } from '../../../device/status.js';
import { FixedClock } from '../../../device/clock.js';
import type { WireEntry } from '../../../device/core/lists.js';
import type { ListName } from '../../../device/core/types.js';
import { removeTempDirs, tempDir as makeTempDir } from '../../helpers/temp.js';

afterEach(removeTempDirs);
const tempDir = () => makeTempDir('passgate-list-count-');

const T = 1_700_000_000;
/** A small key space, so puts replace, deletes hit, and duplicates within one delta happen. */
const keyOf = (i: number) => i.toString(16).padStart(32, '0');
/** Keys that differ in the first, middle and last of their first 13 digits (what the sort orders by first), and some only after them. */
const spreadKey = (i: number) =>
  (i % 3).toString(16) + '0000' + (((i % 7) * 0x2d3) & 0xfff).toString(16).padStart(3, '0') + '0000' + ((i >> 2) % 2).toString(16) + i.toString(16).padStart(19, '0');
const entryArb = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 1000 })).map(
  ([k, s, at]): WireEntry => [spreadKey(k), s as WireEntry[1], T + at, T + 86_400],
);
const listArb = fc.constantFrom<ListName>('tokens', 'holders');

type Op =
  | { kind: 'delta'; list: ListName; put: WireEntry[]; del: string[] }
  | { kind: 'snapshot'; list: ListName; chunks: WireEntry[][] }
  | { kind: 'holder'; entry: WireEntry };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('delta' as const),
    list: listArb,
    put: fc.array(entryArb, { maxLength: 150 }),
    del: fc.array(fc.integer({ min: 0, max: 40 }).map(spreadKey), { maxLength: 10 }),
  }),
  fc.record({ kind: fc.constant('snapshot' as const), list: listArb, chunks: fc.array(fc.array(entryArb, { maxLength: 20 }), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('holder' as const), entry: entryArb }),
);

/** What each list must hold: a later put of a key wins, in a delta and across a snapshot's chunks. */
type Model = Record<ListName, Map<string, WireEntry>>;

function apply(store: GateStore, op: Op, step: number, model: Model): void {
  if (op.kind === 'delta') {
    const from = store.meta(op.list).version;
    expect(store.applyDelta({ list: op.list, from, to: from + 1, put: op.put, del: op.del }, step)).toBe('apply');
    for (const e of op.put) model[op.list].set(e[0], e);
    for (const k of op.del) model[op.list].delete(k);
  } else if (op.kind === 'snapshot') {
    model[op.list] = new Map(op.chunks.flat().map((e) => [e[0], e]));
    // A snapshot's count is of distinct keys across its chunks (a later put of a key replaces it).
    const count = new Set(op.chunks.flat().map((e) => e[0])).size;
    const snapshot = store.meta(op.list).version + 1;
    let last;
    for (const [chunk, put] of op.chunks.entries()) last = store.stageChunk({ list: op.list, snapshot, chunk, chunks: op.chunks.length, count, put }, step);
    expect(last).toMatchObject({ state: 'swapped' });
  } else {
    const [k, s, at, until] = op.entry;
    store.cacheHolder(k, s, at, until);
    const held = model.holders.get(k);
    if (!held || at >= held[2]) model.holders.set(k, op.entry);
  }
}

describe('the entry count kept beside each list', () => {
  it('equals the rows each list holds after any sequence of deltas, snapshots and cached holders (which hold what they should)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), (ops) => {
        const dir = tempDir();
        const store = GateStore.open(dir, { durability: 'normal' });
        const db = new Database(join(dir, DB_FILE), { readonly: true });
        const rows = (list: ListName) => db.prepare(`SELECT lower(hex(k)), s, at, until FROM list_${list} ORDER BY k`).raw().all();
        const model: Model = { tokens: new Map(), holders: new Map() };
        try {
          ops.forEach((op, step) => {
            apply(store, op, step + 1, model);
            for (const list of ['tokens', 'holders'] as const) {
              const held = rows(list);
              expect(store.count(list)).toBe(held.length);
              expect(held).toEqual([...model[list].values()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
            }
          });
        } finally {
          db.close();
          store.close();
        }
        expect(checkStoreIntegrity(dir)).toMatchObject({ ok: true });
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  it('stays right, and the digest whole, over deltas larger than one statement with a key repeated across statement boundaries', () => {
    const dir = tempDir();
    const store = GateStore.open(dir, { durability: 'normal' });
    // Each key three times in a row: the repeats straddle every multiple of 64 entries.
    const thrice = (n: number, s: WireEntry[1], offset = 0) =>
      Array.from({ length: n * 3 }, (_, i): WireEntry => [keyOf(offset + Math.floor(i / 3)), ((s + i) % 4) as WireEntry[1], T + i, T + 86_400]);
    try {
      store.applyDelta({ list: 'tokens', from: 0, to: 1, put: thrice(300, 0), del: [] }, 1);
      expect(store.count('tokens')).toBe(300);
      expect(store.entry('tokens', keyOf(21))).toEqual({ s: (0 + 65) % 4, at: T + 65, until: T + 86_400 }); // the last of the three
      // Onto the full list: keys 100–399 put (200 replaced, 100 new), then 150 deleted (50 of them never held).
      const del = [...Array.from({ length: 100 }, (_, i) => keyOf(250 + i)), ...Array.from({ length: 50 }, (_, i) => keyOf(1000 + i))];
      store.applyDelta({ list: 'tokens', from: 1, to: 2, put: thrice(300, 1, 100), del }, 2);
      expect(store.count('tokens')).toBe(300);
      const db = new Database(join(dir, DB_FILE), { readonly: true });
      expect(db.prepare('SELECT count(*) FROM list_tokens').pluck().get()).toBe(300);
      db.close();
    } finally {
      store.close();
    }
    expect(checkStoreIntegrity(dir)).toMatchObject({ ok: true });
  });

  it('is computed once when a store from before it was kept is opened', () => {
    const dir = tempDir();
    // The schema as it was before the count column: three migrations, a filled list with its digest.
    const old = new Database(join(dir, DB_FILE));
    old.exec(MIGRATIONS.slice(0, 3).join('\n'));
    old.pragma('user_version = 3');
    const insert = old.prepare('INSERT INTO list_tokens (k, s, at, until) VALUES (unhex(?), ?, ?, ?)');
    for (let i = 0; i < 250; i++) insert.run(keyOf(i), i % 4, T, T + 86_400);
    const digest = digestOf(old.prepare('SELECT k, s, at, until FROM list_tokens').raw().iterate() as Iterable<[Uint8Array, number, number, number]>).digest;
    old.prepare("UPDATE list_meta SET version = 7, digest = ? WHERE name = 'tokens'").run(digest);
    old.close();

    // A read-only view (doctor) of the store not yet migrated still answers, by counting.
    const view = GateStore.openReadOnly(dir);
    expect(view.count('tokens')).toBe(250);
    view.close();

    const store = GateStore.open(dir);
    try {
      expect(store.count('tokens')).toBe(250);
      expect(store.count('holders')).toBe(0);
      expect(store.applyDelta({ list: 'tokens', from: 7, to: 8, put: [[keyOf(1000), 1, T, T + 1], [keyOf(3), 1, T, T + 1]], del: [keyOf(4)] }, 1)).toBe('apply');
      expect(store.count('tokens')).toBe(250);
    } finally {
      store.close();
    }
    expect(checkStoreIntegrity(dir)).toMatchObject({ ok: true });
  });

  it('is what status reports (read, not counted), and a count altered on disk fails the integrity check', () => {
    const dir = tempDir();
    const store = GateStore.open(dir);
    const put = Array.from({ length: 100 }, (_, i): WireEntry => [keyOf(i), 0, T, T + 86_400]);
    store.applyDelta({ list: 'tokens', from: 0, to: 1, put, del: [] }, 1);
    const clock = new FixedClock(T * 1000);
    expect(gateStatus(store, clock).lists.tokens.entries).toBe(100);

    const db = new Database(join(dir, DB_FILE));
    db.prepare("UPDATE list_meta SET entries = 12345 WHERE name = 'tokens'").run();
    db.close();
    expect(gateStatus(store, clock).lists.tokens.entries).toBe(12345);
    store.close();

    const check = checkStoreIntegrity(dir);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(['list tokens: holds 100 entries but its count says 12345 (altered on disk)']);
  });
});
