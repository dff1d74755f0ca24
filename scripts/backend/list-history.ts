/**
 * The backend's lists (§5): current entries per list, the deltas that led there (the last
 * `historyLimit` per list), and what a gate holding version `have` needs — one merged delta when the
 * history reaches back that far and the delta is not bigger than the list, else a snapshot in chunks.
 * Everything it hands out is signed by the federation's list signer.
 */
import type { ListDelta, SnapshotChunk, WireEntry } from '../../device/core/lists.js';
import { LIST_NAMES, type ListName } from '../../device/core/types.js';
import type { SigningKey } from '../lib/issuer.js';
import { signEnvelope } from '../lib/issuer.js';
import type { BackendStore } from './store.js';

export interface ListChange {
  put?: WireEntry[];
  del?: string[];
}

/** What a gate holding `have` is sent: nothing, one delta, or snapshot chunks (signed, in order). */
export type CatchUp = { kind: 'none' } | { kind: 'delta'; text: string } | { kind: 'snapshot'; version: number; entries: number; chunks: () => Generator<string> };

export class ListHistory {
  /** When each list last changed (ms); a fresh backend counts from its start. */
  private readonly changedAt = new Map<ListName, number>();
  private readonly q;

  constructor(
    private readonly store: BackendStore,
    private readonly signer: SigningKey,
    private readonly nowMs: () => number,
    private readonly options: { historyLimit: number; chunkSize: number },
  ) {
    const db = store.db;
    for (const l of LIST_NAMES) db.prepare('INSERT OR IGNORE INTO lists (name, version) VALUES (?, 0)').run(l);
    this.q = {
      version: db.prepare<[string], number>('SELECT version FROM lists WHERE name = ?').pluck(),
      setVersion: db.prepare('UPDATE lists SET version = ? WHERE name = ?'),
      put: db.prepare('INSERT OR REPLACE INTO list_entries (list, k, s, at, until) VALUES (?, ?, ?, ?, ?)'),
      del: db.prepare('DELETE FROM list_entries WHERE list = ? AND k = ?'),
      clear: db.prepare('DELETE FROM list_entries WHERE list = ?'),
      // raw(): rows come as [k, s, at, until] arrays, i.e. already WireEntry (1M rows: no re-mapping).
      entries: db.prepare<[string], WireEntry>('SELECT k, s, at, until FROM list_entries WHERE list = ? ORDER BY k').raw(),
      count: db.prepare<[string], number>('SELECT count(*) FROM list_entries WHERE list = ?').pluck(),
      addHistory: db.prepare('INSERT OR REPLACE INTO list_history (list, "from", "to", body) VALUES (?, ?, ?, ?)'),
      history: db.prepare<[string, number], { from: number; to: number; body: string }>(
        'SELECT "from", "to", body FROM list_history WHERE list = ? AND "from" >= ? ORDER BY "from"',
      ),
      prune: db.prepare(
        'DELETE FROM list_history WHERE list = ? AND "from" NOT IN (SELECT "from" FROM list_history WHERE list = ? ORDER BY "from" DESC LIMIT ?)',
      ),
      clearHistory: db.prepare('DELETE FROM list_history WHERE list = ?'),
    };
  }

  version(list: ListName): number {
    return this.q.version.get(list) as number;
  }

  count(list: ListName): number {
    return this.q.count.get(list) as number;
  }

  /** ms since `list` last changed (since this process started, for a list it has not changed). */
  quietForMs(list: ListName): number {
    const at = this.changedAt.get(list);
    if (at === undefined) this.changedAt.set(list, this.nowMs());
    return this.nowMs() - (at ?? this.nowMs());
  }

  /** Records a delta (version + 1) in the list and its history; returns it signed. */
  recordDelta(list: ListName, change: ListChange): { from: number; to: number; text: string } {
    const put = change.put ?? [];
    const del = change.del ?? [];
    return this.store.db
      .transaction(() => {
        const from = this.version(list);
        const to = from + 1;
        for (const e of put) this.q.put.run(list, e[0], e[1], e[2], e[3]);
        for (const k of del) this.q.del.run(list, k);
        this.q.setVersion.run(to, list);
        this.changedAt.set(list, this.nowMs());
        this.q.addHistory.run(list, from, to, JSON.stringify({ put, del }));
        this.q.prune.run(list, list, this.options.historyLimit);
        const delta: ListDelta = { list, from, to, put, del };
        return { from, to, text: signEnvelope(this.signer, 'passgate-list+json', delta) };
      })
      .immediate();
  }

  /** Replaces a list wholesale at `version` and forgets its history, so a gate behind it gets a snapshot. */
  load(list: ListName, entries: Iterable<WireEntry>, version: number): void {
    this.store.db
      .transaction(() => {
        this.q.clear.run(list);
        this.q.clearHistory.run(list);
        for (const e of entries) this.q.put.run(list, e[0], e[1], e[2], e[3]);
        this.q.setVersion.run(version, list);
        this.changedAt.set(list, this.nowMs());
      })
      .immediate();
  }

  /** What a gate holding `have` of `list` needs to reach the current version. */
  catchUp(list: ListName, have: number): CatchUp {
    const current = this.version(list);
    if (have >= current) return { kind: 'none' };
    const merged = this.mergedDelta(list, have, current);
    if (merged && merged.put.length + merged.del.length <= Math.max(1000, this.count(list))) {
      const delta: ListDelta = { list, from: have, to: current, ...merged };
      return { kind: 'delta', text: signEnvelope(this.signer, 'passgate-list+json', delta) };
    }
    // Read in one go (one consistent version; a delta may land while chunks go out), sign chunk by
    // chunk so only one signed chunk is in memory at a time.
    const entries = this.q.entries.all(list) as WireEntry[];
    const size = this.options.chunkSize;
    const count = Math.max(1, Math.ceil(entries.length / size));
    const signer = this.signer;
    return {
      kind: 'snapshot',
      version: current,
      entries: entries.length,
      chunks: function* () {
        for (let i = 0; i < count; i++) {
          const chunk: SnapshotChunk = { list, snapshot: current, chunk: i, chunks: count, count: entries.length, put: entries.slice(i * size, (i + 1) * size) };
          yield signEnvelope(signer, 'passgate-list+json', chunk);
        }
      },
    };
  }

  /** The deltas from `have` to `current` merged into one, or null when the history does not reach. */
  private mergedDelta(list: ListName, have: number, current: number): { put: WireEntry[]; del: string[] } | null {
    const rows = this.q.history.all(list, have);
    let at = have;
    const state = new Map<string, WireEntry | null>();
    for (const r of rows) {
      if (r.from !== at) return null;
      const d = JSON.parse(r.body) as { put: WireEntry[]; del: string[] };
      for (const e of d.put) state.set(e[0], e);
      for (const k of d.del) state.set(k, null);
      at = r.to;
    }
    if (at !== current) return null;
    const put: WireEntry[] = [];
    const del: string[] = [];
    for (const [k, e] of state) {
      if (e) put.push(e);
      else del.push(k);
    }
    return { put, del };
  }
}
