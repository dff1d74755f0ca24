/**
 * The fault suite's harness: a provisioned data directory, a config with a socat pty scanner and a
 * fake sysfs GPIO tree (so the relay's value file can be read from the test across processes), and
 * the real service spawned from dist/. FAULT_SCALE (set by `npm run soak`) turns the short CI runs
 * into the long ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
import { PtyPair } from '../../drivers/serial/pty-pair.js';
import { Federation } from '../../scripts/lib/federation.js';
import { issueHp1, signEnvelope } from '../../scripts/lib/issuer.js';
import { ensureBuilt } from '../helpers/sync.js';

/** The service's entry under dist/: the one place to change when the composition root moves. */
export const SERVICE_ENTRY = 'app/main.js';

/** Long mode: `npm run soak` sets SOAK=1 (and FAULT_* counts); CI runs the short form. */
export const SOAK = process.env.SOAK === '1';
export const num = (name: string, short: number, long: number) => Number(process.env[name] ?? (SOAK ? long : short));

/** The fake sysfs layout: a Pi 4 header chip at base 512, the relay on BCM 17 = gpio529. */
export const RELAY_LINE = 17;
const BASE = 512;

export interface FaultGate {
  root: string;
  dataDir: string;
  configFile: string;
  sysfs: string;
  pty: PtyPair;
  fed: Federation;
  /** 0 or 1: the relay line's level as the service last wrote it (activeLow false: 1 = energised). */
  relayValue(): string;
  /** A fresh green HP1 code (a new handle, so anti-passback never refuses it). */
  code(): string;
  dispose(): Promise<void>;
}

let fed: Federation | undefined;

export async function makeFaultGate(o: { mqttUrl?: string; consolePort?: number; dataDir?: string; site?: string; gate?: string } = {}): Promise<FaultGate> {
  fed ??= Federation.create();
  const root = mkdtempSync(join(tmpdir(), 'passgate-fault-'));
  const dataDir = o.dataDir ?? join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const sysfs = join(root, 'sysfs');
  const chip = join(sysfs, 'gpiochip512');
  mkdirSync(chip, { recursive: true });
  writeFileSync(join(chip, 'label'), 'pinctrl-bcm2711\n');
  writeFileSync(join(chip, 'base'), `${BASE}\n`);
  writeFileSync(join(chip, 'ngpio'), '58\n');
  writeFileSync(join(sysfs, 'export'), '');
  const line = join(sysfs, `gpio${BASE + RELAY_LINE}`);
  mkdirSync(line, { recursive: true });
  for (const [f, v] of [['direction', 'in'], ['value', '0'], ['active_low', '0'], ['edge', 'none']]) writeFileSync(join(line, f!), `${v}\n`);

  const nowS = Math.floor(Date.now() / 1000);
  const clock = new SystemClock(true);
  const store = GateStore.open(dataDir);
  try {
    store.initialise({ site: o.site ?? 'fault', gate: o.gate ?? 'g1', roots: [fed.rootSpki()] });
    ingestEnvelope(fed.trustEnvelope(1, nowS - 3600), store, clock);
    for (const list of ['tokens', 'holders'] as const) {
      ingestEnvelope(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from: 0, to: 1, put: [], del: [] }), store, clock);
    }
  } finally {
    store.close();
  }

  const pty = new PtyPair(join(root, 'pty'));
  mkdirSync(pty.dir, { recursive: true });
  await pty.start();
  const config = {
    dataDir,
    durability: 'full',
    clock: { trusted: 'system' },
    logging: { level: 'info', output: 'journald' },
    scanners: [{ type: 'serial', path: pty.a, baud: 115200, aimQrOnly: false }],
    gpio: { failMode: 'secure', chip: { sysfsRoot: sysfs, label: 'pinctrl-bcm2711' }, relay: { line: RELAY_LINE, activeLow: false } },
    gate: { passageTimeoutMs: 1000, maxPulseMs: 1000, busy: 'queue', queueSize: 1 },
    guardConsole: o.consolePort ? { enabled: true, host: '127.0.0.1', port: o.consolePort } : { enabled: false },
    ...(o.mqttUrl ? { mqtt: { url: o.mqttUrl, keepaliveSeconds: 5 } } : {}),
    outbox: { maxEvents: 1_000_000 },
  };
  const configFile = join(root, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const f = fed;
  return {
    root,
    dataDir,
    configFile,
    sysfs,
    pty,
    fed: f,
    relayValue: () => readFileSync(join(line, 'value'), 'utf8').trim(),
    code: () => issueHp1(f.issuer('CN-330000'), { iss: 'CN-330000', iat: Math.floor(Date.now() / 1000) - 60, exp: Math.floor(Date.now() / 1000) + 540, status: 1, kind: 'dynamic' }).text,
    async dispose() {
      await pty.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface ServiceProcess {
  proc: ChildProcess;
  /** Parsed JSON log lines (pino), in order. */
  logs: Record<string, unknown>[];
  stderr(): string;
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the real service (`node dist/<SERVICE_ENTRY> --config FILE`). */
export async function spawnService(configFile: string, extraArgs: string[] = []): Promise<ServiceProcess> {
  const js = await ensureBuilt(SERVICE_ENTRY);
  const proc = spawn(process.execPath, [js, '--config', configFile, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let partial = '';
  let err = '';
  const watchers = new Set<() => void>();
  proc.stdout!.on('data', (b: Buffer) => {
    const parts = (partial + b.toString('utf8')).split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      try {
        logs.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        logs.push({ raw: p });
      }
    }
    for (const w of watchers) w();
  });
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const waitLog = (pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 20_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      let next = 0;
      const check = () => {
        for (; next < logs.length; next++) {
          if (pred(logs[next]!)) {
            done();
            return resolve(logs[next]!);
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; stderr: ${err.slice(-500)}; last log: ${JSON.stringify(logs.slice(-3))}`));
      }, timeoutMs);
      const onExit = () => {
        done();
        reject(new Error(`service exited while waiting for ${what}; stderr: ${err.slice(-800)}`));
      };
      const done = () => {
        clearTimeout(timer);
        watchers.delete(check);
        proc.off('exit', onExit);
      };
      watchers.add(check);
      proc.once('exit', onExit);
      check();
    });
  return { proc, logs, stderr: () => err, waitLog, exited };
}

/** Runs a dist/ script to completion: exit code, stdout, stderr. */
export async function runScript(rel: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const js = await ensureBuilt(rel);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [js, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b));
    p.stderr.on('data', (b: Buffer) => (stderr += b));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export const isDecision = (l: Record<string, unknown>) => l.msg === 'decision';
export const isReady = (l: Record<string, unknown>) => l.msg === 'ready';
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A line of a Node stack trace ("    at fn (file:line:col)"): never shown to a person. */
export const STACK = /^\s+at .+:\d+:\d+\)?$/m;

/**
 * The far end of the scanner's cable, non-blocking: while the service restarts nobody reads the pty,
 * and a blocking write would stall the test itself. Returns false when the line did not fit.
 */
export function scannerCable(g: FaultGate): { write(line: string): boolean; close(): void } {
  const fd = openSync(g.pty.b, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  return {
    write(line) {
      try {
        writeSync(fd, `${line}\r\n`);
        return true;
      } catch {
        return false; // EAGAIN: the pty buffer is full
      }
    },
    close: () => closeSync(fd),
  };
}

/** Figures of a run: printed, and appended as a JSON line to $FAULT_REPORT when set (npm run soak). */
export function report(name: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ test: name, soak: SOAK, ...figures });
  process.stderr.write(`[fault] ${line}\n`);
  if (process.env.FAULT_REPORT) writeFileSync(process.env.FAULT_REPORT, `${line}\n`, { flag: 'a' });
}

/** Samples the relay value file every `everyMs`: the longest time it stayed at 1. */
export function relayWatch(read: () => string, everyMs = 5): { stop(): number; longestOnMs(): number; reset(): void } {
  let onSince: number | null = null;
  let longest = 0;
  let paused = false;
  const t = setInterval(() => {
    let v = '0';
    try {
      v = read();
    } catch {
      /* mid-write */
    }
    const now = performance.now();
    if (paused) {
      if (v === '1') return;
      paused = false;
    }
    if (v === '1') onSince ??= now;
    else if (onSince !== null) {
      longest = Math.max(longest, now - onSince);
      onSince = null;
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      return longest;
    },
    longestOnMs: () => Math.max(longest, onSince === null ? 0 : performance.now() - onSince),
    /** Forget a run that is still on, until the line is next seen at 0 (its process was killed: on a Pi, systemd's ExecStopPost releases it; here the restarted service does). */
    reset() {
      onSince = null;
      paused = true;
    },
  };
}
