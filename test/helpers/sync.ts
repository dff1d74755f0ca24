/** Shared pieces of the sync tests: a federation, temp dirs, a backend, raw clients, the gate simulator. (Gates: helpers/gate.ts.) */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { Federation } from '../../scripts/lib/federation.js';
import { ReferenceBackend, type ReferenceBackendOptions } from '../../scripts/backend/reference-backend.js';
import { memoryLogger } from './gate.js';
import { checkDigit } from '../../device/core/idcard.js';
import { removeTempDirs, tempDir as makeTempDir } from './temp.js';
export { removeTempDirs };

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const tempDir = (prefix = 'passgate-sync-') => makeTempDir(prefix);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function makeBackend(o: {
  brokerUrl: string;
  federation: Federation;
  site: string;
  protocolVersion?: 4 | 5;
  options?: Partial<ReferenceBackendOptions>;
}): ReferenceBackend {
  return new ReferenceBackend({
    brokerUrl: o.brokerUrl,
    federation: o.federation,
    site: o.site,
    dbPath: join(tempDir('passgate-backend-'), 'backend.db'),
    log: memoryLogger('[backend] '),
    reconnectPeriodMs: 200,
    ...(o.protocolVersion ? { protocolVersion: o.protocolVersion } : {}),
    ...o.options,
  });
}

/** A plain observer/actor client (e.g. to read retained state or to impersonate a forger). */
export async function rawClient(url: string, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
  const c = mqtt.connect(url, { protocolVersion, reconnectPeriod: 200, clean: true });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** A valid resident ID number (GB 11643 check digit) from 17 digits. */
export function idNumber(first17: string): string {
  return first17 + checkDigit(first17);
}

let federation: Federation | null = null;
/** One federation for all sync tests in a worker (key generation is not free). */
export function testFederation(): Federation {
  return (federation ??= Federation.create());
}

/**
 * Builds dist/ (tsc -p tsconfig.json) when a child-process test needs a script there and dist/ is
 * missing or older than the sources. `npm test` builds first, so this normally does nothing.
 */
export async function ensureBuilt(relJs: string): Promise<string> {
  const js = join(REPO, 'dist', relJs);
  const newestSource = Math.max(...['base', 'drivers', 'device', 'sync', 'app', 'scripts/backend', 'scripts/lib'].map((d) => newestMtime(join(REPO, d))));
  if (existsSync(js) && statSync(js).mtimeMs >= newestSource) return js;
  // Test files run in parallel workers: one builds, the others wait for it.
  const lock = join(REPO, 'dist', '.sync-test-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (const deadline = Date.now() + 180_000; ; ) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      if (Date.now() > deadline || Date.now() - statSafe(lock) > 180_000) rmSync(lock, { force: true });
      await sleep(250);
      if (existsSync(js) && statSync(js).mtimeMs >= newestSource && !existsSync(lock)) return js;
    }
  }
  try {
    await new Promise<void>((resolve) => {
      execFile(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.json')], { cwd: REPO }, () => resolve());
    });
  } finally {
    rmSync(lock, { force: true });
  }
  if (!existsSync(js)) throw new Error(`build did not produce ${js}`);
  return js;
}

function statSafe(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return Date.now();
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export interface SimProcess {
  proc: import('node:child_process').ChildProcess;
  lines: string[];
  /** Resolves with the first line (already seen or to come) matching `re`. */
  waitLine(re: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs dist/scripts/backend/gate-sim.js with `args` (see that script for its stdout protocol). */
export async function spawnGateSim(args: string[]): Promise<SimProcess> {
  const { spawn } = await import('node:child_process');
  const js = await ensureBuilt('scripts/backend/gate-sim.js');
  const proc = spawn(process.execPath, [js, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  const watchers = new Set<() => void>();
  proc.stdout!.on('data', (b: Buffer) => {
    const parts = (partial + b.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of watchers) w();
  });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    if (process.env.SYNC_TEST_LOG) process.stderr.write(`[sim stderr] ${b.toString('utf8')}`);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitLine = (re: RegExp, what: string, timeoutMs = 20_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      let next = 0;
      const check = () => {
        for (; next < lines.length; next++) {
          const m = lines[next]!.match(re);
          if (m) {
            cleanup();
            resolve(m);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`gate-sim: no line for ${what} within ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      watchers.add(check);
      check();
    });
  return { proc, lines, waitLine, exited };
}

type Closable = { close?(): unknown; dispose?(): unknown; stop?(): unknown } | null | undefined;

/** The end of a sync test file: closes gates, stops backends, disposes brokers, in the order given; then the temp dirs go. */
export async function closeAll(...parts: Closable[]): Promise<void> {
  for (const p of parts) {
    if (!p) continue;
    if (p.close) await p.close();
    else if (p.dispose) await p.dispose();
    else await p.stop?.();
  }
  removeTempDirs();
}
