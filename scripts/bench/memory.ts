/**
 * Memory of the real service: `node dist/app/main.js` as systemd runs it (a serial scanner on a
 * socat pty, simulated GPIO, MQTT connected to mosquitto with no backend, so no event is ever
 * acknowledged), as a metro gate (no guard console) and as a hospital gate (guard console on).
 * Measures start → ready, RSS (VmRSS of the process) at ready, after idling, after 1,000 scans —
 * their events then wait for an ack — and after 5,000, and the peak (VmHWM) over the whole run.
 *
 * The node flags are the unit's ExecStart's. `npm run bench -- memory` runs only this section.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
import { PtyPair } from '../../drivers/serial/pty-pair.js';
import { Federation } from '../lib/federation.js';
import { issueHp1, signEnvelope } from '../lib/issuer.js';
import { startMosquitto } from '../backend/mosquitto.js';

export interface MemoryBench {
  guardConsole: boolean;
  startToReadyMs: number;
  rssReadyMiB: number;
  rssIdleMiB: number;
  /** After the first burst of `scans`, and after `scans × 5` in all. */
  rssAfterScansMiB: number;
  rssAfterMoreScansMiB: number;
  /** VmHWM: the most the process ever had resident, start included. */
  rssPeakMiB: number;
  scans: number;
  eventsWaiting: number;
  eventsWaitingAtEnd: number;
}

const statusMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
};
const rssMiB = (pid: number) => statusMiB(pid, 'VmRSS');
/** The node flags the systemd unit starts the service with: measured as it runs. */
export function unitNodeFlags(): string[] {
  const exec = /^ExecStart=\S*node((?:\s+--\S+)*)\s/m.exec(readFileSync('systemd/passgate.service', 'utf8'));
  return exec?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}
/** The environment the systemd unit gives the service (its `Environment=` lines). */
export function unitEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, name, value] of readFileSync('systemd/passgate.service', 'utf8').matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(\S*)$/gm)) env[name!] = value!;
  return env;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchMemory(o: { guardConsole: boolean; scans?: number; idleMs?: number }): Promise<MemoryBench> {
  const scans = o.scans ?? 1000;
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-mem-'));
  const broker = await startMosquitto();
  const pty = new PtyPair();
  await pty.start();
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const clock = new SystemClock(true);
    const store = GateStore.open(join(dir, 'data'));
    store.initialise({ site: 'bench', gate: 'mem', roots: [fed.rootSpki()] });
    const ingest = (t: string) => ingestEnvelope(t, store, clock);
    ingest(fed.trustEnvelope(1, now - 3600));
    ingest(fed.policyEnvelope({ version: 1, pulseMs: 50 }));
    for (const list of ['tokens', 'holders'] as const) ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from: 0, to: 1, put: [], del: [] }));
    store.close();
    const codes = Array.from({ length: scans * 5 }, () => issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: now - 60, exp: now + 3600, status: 1, kind: 'dynamic' }).text);
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        dataDir: join(dir, 'data'),
        clock: { trusted: 'system' },
        logging: { level: 'info', output: 'journald' },
        scanners: [{ type: 'serial', path: pty.a }],
        gpio: { simulated: true, relay: { line: 17, activeLow: true } },
        gate: { passageTimeoutMs: 1000, busy: 'refuse' },
        ...(o.guardConsole ? { guardConsole: { enabled: true, host: '127.0.0.1', port: 18088 } } : {}),
        mqtt: { url: broker.url, keepaliveSeconds: 30 },
      }),
    );

    const started = performance.now();
    child = spawn(process.execPath, [...unitNodeFlags(), 'dist/app/main.js', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...unitEnvironment() } });
    let out = '';
    let readyAt = 0;
    const onData = (d: Buffer) => {
      if (readyAt === 0) {
        out += d;
        if (out.includes('"msg":"ready"')) readyAt = performance.now();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await waitReady(child, () => readyAt, () => out);
    const startToReadyMs = Math.round(readyAt - started);
    await sleep(1000); // MQTT connects
    const rssReadyMiB = rssMiB(child.pid!);
    await sleep(o.idleMs ?? 5000);
    const rssIdleMiB = rssMiB(child.pid!);

    const fd = openSync(pty.b, 'w');
    const check = GateStore.openReadOnly(join(dir, 'data'));
    // Scans codes [from, to) and waits until each is recorded (the store is readable by a second
    // process: WAL), then lets the service settle.
    const burst = async (from: number, to: number): Promise<number> => {
      for (const code of codes.slice(from, to)) {
        writeSync(fd, `${code}\r`);
        await sleep(2);
      }
      // Recorded when the outbox stops growing for a second (each scan adds a decision and a relay event).
      let waiting = 0;
      for (let i = 0, still = 0; i < 1200 && still < 10; i++) {
        await sleep(100);
        const depth = check.outboxStats().depth;
        still = depth === waiting && depth >= to ? still + 1 : 0;
        waiting = depth;
      }
      await sleep(1000);
      return waiting;
    };
    let eventsWaiting = 0;
    let eventsWaitingAtEnd = 0;
    let rssAfterScansMiB = 0;
    let rssAfterMoreScansMiB = 0;
    try {
      eventsWaiting = await burst(0, scans);
      rssAfterScansMiB = rssMiB(child.pid!);
      eventsWaitingAtEnd = await burst(scans, scans * 5);
      rssAfterMoreScansMiB = rssMiB(child.pid!);
    } finally {
      check.close();
      closeSync(fd);
    }
    const rssPeakMiB = statusMiB(child.pid!, 'VmHWM');
    return { guardConsole: o.guardConsole, startToReadyMs, rssReadyMiB, rssIdleMiB, rssAfterScansMiB, rssAfterMoreScansMiB, rssPeakMiB, scans, eventsWaiting, eventsWaitingAtEnd };
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await pty.stop();
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitReady(child: ReturnType<typeof spawn>, readyAt: () => number, out: () => string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (readyAt() > 0) return;
    if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}: ${out()}`);
    await sleep(5);
  }
  throw new Error(`service not ready: ${out()}`);
}
