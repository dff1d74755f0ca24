/**
 * How a gate opens its store (defects 13, 14, 15). One path opens, migrates and checks a provisioned
 * store, for every gate (openProvisionedStore; compose's openStore for the demo, the simulator and
 * the benches): it must exist (a typo is not a new gate), its directory be writable, the store whole
 * (checked before it is opened; only the small tables when the file is large) and hold an identity;
 * anything else is a StoreRefused saying why in one line. The service adds its policy on top
 * (openServiceStore): a damaged store is set aside and rebuilt from what can be read, the big list
 * tables are checked in the background, the outbox counter never goes below the high-water mark,
 * and every refusal is one line and an exit code the unit understands.
 */
import { accessSync, constants, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PassgateError } from '../../base/errors.js';
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

/** Why a provisioned store was not opened. */
export type StoreProblem = 'not-initialised' | 'unwritable' | 'damaged' | 'disk-full' | 'failed';

/** A store that cannot be opened as it is: `detail` is one line for a person, `problems` what a check found. */
export class StoreRefused extends PassgateError {
  constructor(
    readonly problem: StoreProblem,
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(problem === 'not-initialised' ? 'NOT_INITIALISED' : 'STORE_FAILED', message);
  }
}

export interface OpenedStore {
  store: GateStore;
  /** The check run before it was opened: `small-tables` leaves the list tables to the caller. */
  check: IntegrityReport;
}

const PROBLEM_OF = { STORE_CORRUPT: 'damaged', DISK_FULL: 'disk-full', STORE_READ_ONLY: 'unwritable', STORE_FAILED: 'failed' } as const;

/**
 * Opens, migrates and checks the store of a data directory that `passgate init` provisioned, or
 * throws StoreRefused. Never exits and never repairs: what to do about a refusal is the caller's.
 */
export function openProvisionedStore(o: { dataDir: string; durability: StoreOptions['durability'] }): OpenedStore {
  const { dataDir } = o;
  const notInitialised = () =>
    new StoreRefused(
      'not-initialised',
      `data directory ${dataDir} is not initialised: run \`passgate init --data-dir ${dataDir} --site <site> --gate <gate> --root <federation root SPKI, base64url>\` first`,
    );
  // GateStore.open creates what is missing: look first, so a typo in dataDir is not "initialised" as a new empty gate.
  if (!existsSync(join(dataDir, DB_FILE))) throw notInitialised();
  const unwritable = dataDirProblem(dataDir);
  if (unwritable) throw new StoreRefused('unwritable', unwritable);

  const check: IntegrityReport = existsSync(join(dataDir, DAMAGE_MARKER))
    ? { ok: false, problems: ['the last background check found damage'], scope: 'full', durationMs: 0 }
    : checkStoreIntegrity(dataDir, { scope: checkInBackground(dataDir) ? 'small-tables' : 'full' });
  if (!check.ok) {
    throw new StoreRefused('damaged', `the store in ${dataDir} is damaged (${check.problems[0]}): \`passgate repair --data-dir ${dataDir}\``, check.problems);
  }
  let store: GateStore;
  try {
    store = GateStore.open(dataDir, { durability: o.durability });
  } catch (e) {
    const d = describeStoreError(e, dataDir);
    throw new StoreRefused(PROBLEM_OF[d.code], d.message);
  }
  if (!store.identity()) {
    store.close();
    throw notInitialised();
  }
  return { store, check };
}

/** What the unit is told for each refusal. */
const EXIT_FOR: Record<StoreProblem, number> = {
  'not-initialised': EXIT_CONFIG,
  unwritable: EXIT_STORE,
  damaged: EXIT_STORE,
  'disk-full': EXIT_DISK_FULL,
  failed: EXIT_STORE,
};

/** Stops the process with one line on stderr and in the log. */
function stop(log: StoreLog, code: number, message: string): never {
  log.fatal({ exitCode: code }, message);
  process.stderr.write(`passgate: refusing to start: ${message}\n`);
  process.exit(code);
}

/** A refusal as the service's exit (anything else is a bug and is thrown on). */
function refuse(log: StoreLog, e: unknown): never {
  if (!(e instanceof StoreRefused)) throw e;
  stop(log, EXIT_FOR[e.problem], e.detail);
}

/**
 * Opens the service's store or exits with a clear line: 78 not provisioned, 74 not writable or not
 * repairable, 75 disk full. A damaged store is repaired on the spot (and the service starts).
 */
export function openServiceStore(o: { dataDir: string; durability: StoreOptions['durability']; clock: Clock; log: StoreLog }): GateStore {
  const { dataDir, log } = o;
  let opened: OpenedStore;
  try {
    opened = openProvisionedStore(o);
    log.info({ scope: opened.check.scope, ms: opened.check.durationMs }, 'store integrity checked');
  } catch (e) {
    if (!(e instanceof StoreRefused) || e.problem !== 'damaged') refuse(log, e);
    repairOrStop(o, e.problems);
    try {
      opened = openProvisionedStore(o);
    } catch (again) {
      refuse(log, again);
    }
  }
  const { store, check } = opened;
  guardStore(store, o.clock, log);
  if (check.scope === 'small-tables') backgroundCheck(dataDir, log);
  return store;
}

function repairOrStop(o: { dataDir: string; clock: Clock; log: StoreLog }, problems: readonly string[]): void {
  const reason = problems.join('; ');
  o.log.error({ problems }, `store ${o.dataDir}/${DB_FILE} is damaged: setting it aside and rebuilding it`);
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
