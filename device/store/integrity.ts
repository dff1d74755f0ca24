/**
 * Is the store whole, and what to do when it is not (defect 13).
 *
 * checkStoreIntegrity() runs SQLite's own checks on a read-only connection: `quick_check` (page
 * structure, free list, record formats) on every table, or on the small ones only when the caller
 * checks the big list tables in the background; and, since SQLite keeps no checksum of content,
 * recomputes each list's content digest (list-digest.ts) and compares it with the one kept. repairStore() sets the damaged files aside under a
 * timestamped name, salvages what can still be read (identity, command counters, settings, every
 * readable outbox event under its own seq) into a fresh store whose seqs continue above the highest
 * ever handed out, and leaves trust, policy and lists to the next sync. `passgate doctor` and
 * `passgate repair` call the same two functions the service calls at start.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DB_FILE, GateStore, SHM_FILE, WAL_FILE, type Salvage } from './store.js';
import { readSeqMark } from './seq-mark.js';
import { digestOf } from './list-digest.js';
import { baseEvent } from '../events.js';
import type { Clock } from '../core/ports.js';

/** The tables that grow with the lists (10M entries: hundreds of MB); everything else is small. */
export const LIST_TABLES = ['list_tokens', 'list_holders', 'stage_tokens', 'stage_holders'] as const;
/** Above this size the list tables are checked in the background (see RELIABILITY.md for the cost). */
export const BACKGROUND_CHECK_BYTES = 64 * 1024 * 1024;

export interface IntegrityReport {
  ok: boolean;
  /** What SQLite reported, at most 10 lines; empty when ok. */
  problems: string[];
  /** Which tables were checked: all of them, or all but the list tables. */
  scope: 'full' | 'small-tables' | 'list-tables';
  durationMs: number;
}

/**
 * Runs `PRAGMA quick_check` read-only. `scope`: `full` (every table), `small-tables` (all but the
 * list tables: milliseconds whatever the list size), `list-tables` (the rest).
 */
export function checkStoreIntegrity(dataDir: string, o: { scope?: IntegrityReport['scope']; thorough?: boolean } = {}): IntegrityReport {
  const scope = o.scope ?? 'full';
  const started = performance.now();
  const done = (problems: string[]): IntegrityReport => ({ ok: problems.length === 0, problems: problems.slice(0, 10), scope, durationMs: Math.round(performance.now() - started) });
  let db: Database.Database | null = null;
  try {
    db = new Database(join(dataDir, DB_FILE), { readonly: true, fileMustExist: true });
    const pragma = o.thorough ? 'integrity_check' : 'quick_check';
    const run = (table?: string) =>
      (db!.prepare(`PRAGMA ${pragma}${table ? `(${table})` : ''}`).pluck().all() as string[]).filter((r) => r !== 'ok');
    if (scope === 'full') {
      const problems = run();
      return done(problems.length ? problems : [...outboxDepthProblems(db), ...listDigestProblems(db)]);
    }
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
    const listTables = new Set<string>(LIST_TABLES);
    const chosen = tables.filter((t) => (scope === 'list-tables') === listTables.has(t));
    const problems = chosen.flatMap((t) => run(t));
    if (scope === 'list-tables' && problems.length === 0) problems.push(...listDigestProblems(db));
    // The schema the gate needs must be there and readable.
    if (scope === 'small-tables') {
      for (const t of ['meta', 'outbox', 'list_meta', 'documents']) if (!tables.includes(t)) problems.push(`table ${t} is missing`);
      if (problems.length === 0) problems.push(...outboxDepthProblems(db));
    }
    return done(problems);
  } catch (e) {
    return done([oneLine(e)]);
  } finally {
    db?.close();
  }
}

/** The outbox depth its triggers keep against the rows it holds (status reports the kept one). */
function outboxDepthProblems(db: Database.Database): string[] {
  const rows = db.prepare('SELECT count(*) FROM outbox').pluck().get() as number;
  const kept = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND name = 'outbox_depth_in'").pluck().get()
    ? (db.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_depth'").pluck().get() as number | undefined)
    : rows; // a store not yet migrated to keep it: nothing to compare
  return kept === rows ? [] : [`outbox holds ${rows} events but its depth says ${kept ?? 'nothing'}`];
}

/**
 * Recomputes each list's content digest from its table and compares it with the one kept beside it:
 * a flipped byte inside an entry passes SQLite's own checks but not this. The entry count kept
 * beside it is compared in the same scan: a wrong count is damage too (status would misreport).
 */
function listDigestProblems(db: Database.Database): string[] {
  const problems: string[] = [];
  const columns = db.prepare("SELECT name FROM pragma_table_info('list_meta')").pluck().all() as string[];
  if (!columns.includes('digest')) return problems;
  const counted = columns.includes('entries');
  for (const list of ['tokens', 'holders'] as const) {
    const kept = db.prepare(`SELECT digest, ${counted ? 'entries' : 'NULL'} AS entries FROM list_meta WHERE name = ?`).get(list) as
      | { digest: Buffer | null; entries: number | null }
      | undefined;
    if (!kept?.digest) continue; // not tracked
    const rows = db.prepare(`SELECT k, s, at, until FROM list_${list}`).raw().iterate() as Iterable<[Uint8Array, number, number, number]>;
    const found = digestOf(rows);
    if (!found.digest.equals(kept.digest)) problems.push(`list ${list}: content does not match its digest (entries were altered on disk)`);
    else if (kept.entries !== null && found.entries !== kept.entries) {
      problems.push(`list ${list}: holds ${found.entries} entries but its count says ${kept.entries} (altered on disk)`);
    }
  }
  return problems;
}

/** Should the list tables be checked in the background (the file is big)? */
export function checkInBackground(dataDir: string): boolean {
  try {
    return statSync(join(dataDir, DB_FILE)).size > BACKGROUND_CHECK_BYTES;
  } catch {
    return false;
  }
}

export interface RepairReport {
  /** Where the damaged files went. */
  setAside: string[];
  /** Events copied into the fresh store, and those that could not be read. */
  salvaged: number;
  unreadable: number;
  /** The identity was readable (without it the fresh store is not provisioned: `passgate init`). */
  identity: boolean;
  /** The fresh store's next seq is above this. */
  floorSeq: number;
}

/**
 * Sets the damaged store aside and builds a fresh one from what can still be read. Never throws for
 * the damage itself; throws (a filesystem error) when the directory cannot take the fresh store.
 */
export function repairStore(dataDir: string, o: { clock: Clock; reason: string }): RepairReport {
  const salvage = salvageStore(dataDir);
  const stamp = new Date(o.clock.nowMs()).toISOString().replace(/[:.]/g, '-');
  const setAside: string[] = [];
  for (const f of [DB_FILE, WAL_FILE, SHM_FILE]) {
    const from = join(dataDir, f);
    if (!existsSync(from)) continue;
    // passgate.db-wal → passgate.db.damaged-<stamp>-wal: the pair stays openable together.
    const to = join(dataDir, `${DB_FILE}.damaged-${stamp}${f.slice(DB_FILE.length)}`);
    renameSync(from, to);
    setAside.push(to);
  }
  const identity = salvage.meta.some(([k]) => k === 'identity');
  if (identity) {
    const store = GateStore.open(dataDir);
    try {
      store.restore(salvage.salvage);
      const e = {
        ...baseEvent('alarm', o.clock),
        what: 'store_repaired',
        reason: o.reason.slice(0, 200),
        salvaged: salvage.salvage.events.length,
        unreadable: salvage.unreadable,
        floorSeq: salvage.salvage.floorSeq,
      };
      store.recordEvent(e, e.tsMs);
    } finally {
      store.close();
    }
  }
  return { setAside, salvaged: salvage.salvage.events.length, unreadable: salvage.unreadable, identity, floorSeq: salvage.salvage.floorSeq };
}

/** Damaged stores set aside by repair, newest last. */
export function damagedFiles(dataDir: string): string[] {
  try {
    return readdirSync(dataDir).filter((f) => f.startsWith(`${DB_FILE}.damaged-`)).sort();
  } catch {
    return [];
  }
}

/** Reads whatever can be read, row by row where a whole scan fails. */
function salvageStore(dataDir: string): { salvage: Salvage; meta: [string, string][]; unreadable: number } {
  const salvage: Salvage = { meta: [], counters: [], events: [], floorSeq: readSeqMark(dataDir) };
  let unreadable = 0;
  let db: Database.Database | null = null;
  const source = readableCopy(dataDir);
  try {
    db = new Database(source.path, { readonly: true, fileMustExist: true });
    const d = db;
    const attempt = <T>(fn: () => T, fallback: T): T => {
      try {
        return fn();
      } catch {
        return fallback;
      }
    };
    for (const key of ['identity', 'sync_session', 'clock_floor_ms']) {
      const v = attempt(() => d.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined, undefined);
      if (v !== undefined) salvage.meta.push([key, v]);
    }
    salvage.meta.push(...attempt(() => d.prepare("SELECT key, value FROM meta WHERE key LIKE 'setting:%'").raw().all() as [string, string][], []));
    salvage.counters = attempt(() => d.prepare('SELECT kid, ctr FROM cmd_counters').raw().all() as [string, number][], []);
    const counter = attempt(() => d.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck().get() as number | undefined, undefined) ?? 0;
    const maxSeq = attempt(() => d.prepare('SELECT max(seq) FROM outbox').pluck().get() as number | null, null) ?? 0;
    const top = Math.max(counter, maxSeq);
    // Chunks in seq order; a chunk that fails is read one seq at a time.
    const chunk = d.prepare('SELECT seq, ts_ms AS tsMs, event FROM outbox WHERE seq > ? ORDER BY seq LIMIT 500');
    const one = d.prepare('SELECT seq, ts_ms AS tsMs, event FROM outbox WHERE seq = ?');
    let after = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      let rows: Salvage['events'];
      try {
        rows = chunk.all(after) as Salvage['events'];
      } catch {
        const end = Math.max(after + 500, top);
        for (let seq = after + 1; seq <= Math.min(after + 500, end); seq++) {
          const row = attempt(() => one.get(seq) as Salvage['events'][number] | undefined, null);
          if (row === null || (row && !isSalvageable(row))) unreadable++;
          else if (row) salvage.events.push(row);
        }
        after = Math.min(after + 500, end);
        if (after >= top) break;
        continue;
      }
      if (rows.length === 0) break;
      const whole = rows.filter(isSalvageable);
      unreadable += rows.length - whole.length;
      salvage.events.push(...whole);
      after = rows[rows.length - 1]!.seq;
    }
    salvage.floorSeq = Math.max(salvage.floorSeq, top, after);
  } catch {
    /* not even openable: nothing but the seq mark survives */
  } finally {
    db?.close();
    source.dispose();
  }
  return { salvage, meta: salvage.meta, unreadable };
}

/**
 * A truncated file is shorter than its header says, and SQLite then refuses even its schema: salvage
 * reads a copy padded with zero pages to the declared size (the WAL copied beside it), so every page
 * that is still there can be read. Other files are read in place.
 */
function readableCopy(dataDir: string): { path: string; dispose(): void } {
  const path = join(dataDir, DB_FILE);
  const inPlace = { path, dispose: () => {} };
  try {
    const header = Buffer.alloc(100);
    const fd = openSync(path, 'r');
    let size: number;
    try {
      readSync(fd, header, 0, 100, 0);
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    const declared = header.readUInt32BE(28) * pageSize;
    if (!(pageSize >= 512 && declared > size)) return inPlace;
    const dir = mkdtempSync(join(tmpdir(), 'passgate-salvage-'));
    const copy = join(dir, DB_FILE);
    copyFileSync(path, copy);
    truncateSync(copy, declared);
    if (existsSync(join(dataDir, WAL_FILE))) copyFileSync(join(dataDir, WAL_FILE), join(dir, WAL_FILE));
    return { path: copy, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch {
    return inPlace;
  }
}

/**
 * A row read from a damaged page may come back with columns missing (NULL) or garbled: only one
 * with a seq, a time and an event's text is put into the rebuilt store (whose columns are NOT NULL).
 */
function isSalvageable(row: { seq: unknown; tsMs: unknown; event: unknown }): boolean {
  return Number.isSafeInteger(row.seq) && Number.isFinite(row.tsMs) && isEventText(row.event);
}

function isEventText(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    const e = JSON.parse(text);
    return e !== null && typeof e === 'object' && typeof e.type === 'string';
  } catch {
    return false;
  }
}

/** Is this error the store's files being damaged (as opposed to full, read-only, or busy)? */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || String(code).startsWith('SQLITE_CORRUPT') || String(code).startsWith('SQLITE_IOERR_SHORT_READ');
}

/** A store error as one line for a person: what is wrong, never a stack. */
export function describeStoreError(e: unknown, dataDir: string): { code: 'STORE_CORRUPT' | 'DISK_FULL' | 'STORE_READ_ONLY' | 'STORE_FAILED'; message: string } {
  const code = String((e as { code?: unknown })?.code ?? '');
  const why = oneLine(e);
  if (isCorruption(e)) return { code: 'STORE_CORRUPT', message: `the store in ${dataDir} is damaged (${why}): \`passgate repair --data-dir ${dataDir}\`` };
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code.startsWith('SQLITE_IOERR_SHM')) return { code: 'DISK_FULL', message: `no space left on the device holding ${dataDir} (${why})` };
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code.startsWith('SQLITE_CANTOPEN')) {
    return { code: 'STORE_READ_ONLY', message: `${dataDir} cannot be written (${why}): check its owner, mode and mount` };
  }
  return { code: 'STORE_FAILED', message: `the store in ${dataDir} failed (${why})` };
}

function oneLine(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return `${code ? `${String(code)}: ` : ''}${msg.split('\n')[0]!.slice(0, 200)}`;
}
