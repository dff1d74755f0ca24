/**
 * How the service opens its store (defects 13, 14, 15): the data directory must be writable, the
 * store whole (checked at start; the big list tables in the background when the file is large), a
 * damaged store is set aside and rebuilt from what can be read, and the outbox counter never goes
 * below the high-water mark. Every failure is one line and an exit code the unit understands.
 */
import { accessSync, constants, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DB_FILE, GateStore, type StoreOptions } from './store.js';
import { checkInBackground, checkStoreIntegrity, describeStoreError, repairStore, type IntegrityReport } from './integrity.js';
import { baseEvent } from '../events.js';
import type { Clock } from '../core/ports.js';

/** EX_CONFIG: bad config or an unprovisioned data directory (RestartPreventExitStatus). */
export const EXIT_CONFIG = 78;
/** EX_IOERR: the data directory cannot be written or the store cannot be rebuilt: a person must act (RestartPreventExitStatus). */
export const EXIT_STORE = 74;
/** EX_TEMPFAIL: the disk is full; systemd retries, space may come back. */
export const EXIT_DISK_FULL = 75;

/** A marker left when the background check found damage: the next start repairs before anything else. */
export const DAMAGE_MARKER = 'passgate.damaged';

export interface StoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

/** Can the service write here? null when yes, else one line saying why not. */
export function dataDirProblem(dataDir: string): string | null {
  if (!existsSync(dataDir)) return `${dataDir} does not exist`;
  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK);
    // access() says yes on a read-only mount for root: try for real.
    const probe = join(dataDir, `.passgate-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (e) {
    return `${dataDir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) {
    const p = join(dataDir, f);
    if (!existsSync(p)) continue;
    try {
      accessSync(p, constants.R_OK | constants.W_OK);
    } catch (e) {
      return `${p} is not writable (${(e as NodeJS.ErrnoException).code})`;
    }
  }
  return null;
}

/** Stops the process with one line on stderr and in the log. */
function stop(log: StoreLog, code: number, message: string): never {
  log.fatal({ exitCode: code }, message);
  process.stderr.write(`passgate: refusing to start: ${message}\n`);
  process.exit(code);
}

/**
 * Opens the service's store or exits with a clear line: 78 not provisioned, 74 not writable or not
 * repairable, 75 disk full. A damaged store is repaired on the spot (and the service starts).
 */
export function openServiceStore(o: { dataDir: string; durability: StoreOptions['durability']; clock: Clock; log: StoreLog }): GateStore {
  const { dataDir, log } = o;
  const notInitialised = () =>
    stop(
      log,
      EXIT_CONFIG,
      `data directory ${dataDir} is not initialised: run \`passgate init --data-dir ${dataDir} --site <site> --gate <gate> --root <federation root SPKI, base64url>\` first`,
    );
  // GateStore.open creates what is missing: look first, so a typo in dataDir is not "initialised" as a new empty gate.
  if (!existsSync(join(dataDir, DB_FILE))) notInitialised();
  const unwritable = dataDirProblem(dataDir);
  if (unwritable) stop(log, EXIT_STORE, unwritable);

  const marked = existsSync(join(dataDir, DAMAGE_MARKER));
  const check = marked
    ? { ok: false, problems: ['the last background check found damage'], scope: 'full' as const, durationMs: 0 }
    : checkStoreIntegrity(dataDir, { scope: checkInBackground(dataDir) ? 'small-tables' : 'full' });
  if (!check.ok) repairOrStop(o, check);
  else log.info({ scope: check.scope, ms: check.durationMs }, 'store integrity checked');

  let store: GateStore;
  try {
    store = GateStore.open(dataDir, { durability: o.durability });
  } catch (e) {
    const d = describeStoreError(e, dataDir);
    if (d.code !== 'STORE_CORRUPT') stop(log, d.code === 'DISK_FULL' ? EXIT_DISK_FULL : EXIT_STORE, d.message);
    repairOrStop(o, { ok: false, problems: [d.message], scope: 'full', durationMs: 0 });
    store = GateStore.open(dataDir, { durability: o.durability });
  }
  if (!store.identity()) {
    store.close();
    notInitialised();
  }
  guardStore(store, o.clock, log);
  if (!check.ok || check.scope === 'full') return store;
  backgroundCheck(dataDir, log);
  return store;
}

function repairOrStop(o: { dataDir: string; clock: Clock; log: StoreLog }, check: IntegrityReport): void {
  const reason = check.problems.join('; ');
  o.log.error({ problems: check.problems }, `store ${o.dataDir}/${DB_FILE} is damaged: setting it aside and rebuilding it`);
  let r: ReturnType<typeof repairStore>;
  try {
    r = repairStore(o.dataDir, { clock: o.clock, reason });
    rmSync(join(o.dataDir, DAMAGE_MARKER), { force: true });
  } catch (e) {
    stop(o.log, EXIT_STORE, `the damaged store could not be rebuilt: ${describeStoreError(e, o.dataDir).message}`);
  }
  if (!r.identity) stop(o.log, EXIT_CONFIG, `the damaged store held no readable identity (set aside as ${r.setAside[0]}): run \`passgate init\` again`);
  o.log.warn(
    { setAside: r.setAside, salvaged: r.salvaged, unreadable: r.unreadable, floorSeq: r.floorSeq },
    'store rebuilt: events salvaged, trust, policy and lists will be synced again from the backend',
  );
}

/** Alarm events for a seq gap found at open and for files healed while running; a periodic file check. */
function guardStore(store: GateStore, clock: Clock, log: StoreLog): void {
  const alarm = (fields: Record<string, unknown>) => {
    try {
      const e = { ...baseEvent('alarm', clock), ...fields };
      store.recordEvent(e, e.tsMs);
    } catch (err) {
      log.error({ err }, 'could not record a store alarm');
    }
  };
  const gap = store.seqGapAtOpen();
  if (gap) {
    log.error(gap, 'outbox counter was below the high-water mark (events were lost with a WAL or a damaged store): seqs continue above it');
    alarm({ what: 'seq_gap', from: gap.from, to: gap.to });
  }
  store.onFilesHealed((h) => {
    log.error(h, 'store files were deleted or replaced under the running gate: written back and reopened');
    alarm({ what: 'store_files_replaced', files: h.lost, lastSeq: h.lastSeq });
  });
  store.watchFiles(1000, (err) => log.error({ err }, 'store file check failed'));
}

/** The list tables' check off the main thread; damage leaves a marker and the service restarts to repair. */
function backgroundCheck(dataDir: string, log: StoreLog): void {
  const worker = new Worker(new URL('./integrity-worker.js', import.meta.url), { workerData: { dataDir } });
  worker.unref();
  worker.on('message', (r: IntegrityReport) => {
    if (r.ok) return log.info({ scope: r.scope, ms: r.durationMs }, 'store integrity checked (list tables, background)');
    log.error({ problems: r.problems }, 'store list tables are damaged: restarting to rebuild the store');
    try {
      writeFileSync(join(dataDir, DAMAGE_MARKER), `${r.problems.join('\n')}\n`);
    } catch (err) {
      log.error({ err }, 'could not leave the damage marker');
    }
    process.kill(process.pid, 'SIGTERM');
  });
  worker.on('error', (err) => log.error({ err }, 'background store check failed to run'));
}
