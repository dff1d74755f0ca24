/**
 * The reference backend's SQLite file: the schema, and the small things kept beside lists and events
 * (retained documents, the command counter, what look-ups answer from). Lists and their history are
 * list-history.ts's tables, events and acks event-intake.ts's; each module prepares its own statements.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS events (
    gate TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, ts_ms INTEGER NOT NULL, type TEXT NOT NULL,
    session INTEGER NOT NULL, received_at_ms INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (gate, seq)
  ) WITHOUT ROWID;
  -- Seq ranges a gate reported as dropped by its bounded retention: accounted for, never stored.
  CREATE TABLE IF NOT EXISTS gaps (gate TEXT NOT NULL, "from" INTEGER NOT NULL, "to" INTEGER NOT NULL, PRIMARY KEY (gate, "from")) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS cursors (
    gate TEXT PRIMARY KEY, up_to INTEGER NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS lists (name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS list_entries (
    list TEXT NOT NULL, k TEXT NOT NULL, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (list, k)
  ) WITHOUT ROWID;
  -- What look-ups answer from: the backend's knowledge of every holder, not only the listed ones.
  CREATE TABLE IF NOT EXISTS holders (k TEXT PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS list_history (list TEXT NOT NULL, "from" INTEGER NOT NULL, "to" INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (list, "from")) WITHOUT ROWID;
`;

export type HolderStatus = 0 | 1 | 2 | 3;

export class BackendStore {
  readonly db: Database.Database;
  private readonly q;

  /** `path` ':memory:' for throw-away runs; otherwise created if missing (a CLI process may share it). */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.q = {
      getMeta: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getHolder: db.prepare<[string], { s: HolderStatus; at: number }>('SELECT s, at FROM holders WHERE k = ?'),
      setHolder: db.prepare('INSERT OR REPLACE INTO holders (k, s, at) VALUES (?, ?, ?)'),
    };
  }

  meta(key: string): string | undefined {
    return this.q.getMeta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.q.setMeta.run(key, value);
  }

  /** The next command counter (`ctr`), raised and kept in one transaction. */
  nextCounter(): number {
    return this.db.transaction(() => {
      const next = Number(this.q.getMeta.get('cmd_ctr') ?? '0') + 1;
      this.q.setMeta.run('cmd_ctr', String(next));
      return next;
    }).immediate();
  }

  holder(handle: string): { s: HolderStatus; at: number } | undefined {
    return this.q.getHolder.get(handle);
  }

  setHolder(handle: string, s: HolderStatus, at: number): void {
    this.q.setHolder.run(handle, s, at);
  }

  close(): void {
    this.db.close();
  }
}
