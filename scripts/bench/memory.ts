/**
 * Memory of the real service: `node dist/device/main.js` as systemd runs it (a serial scanner on a
 * socat pty, simulated GPIO, the guard console, MQTT connected to mosquitto with no backend, so no
 * event is ever acknowledged). Measures start → ready, RSS (VmRSS of the process) at ready, after
 * idling, and after 1,000 scans — 1,000 events then wait for an ack.
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
  startToReadyMs: number;
  rssReadyMiB: number;
  rssIdleMiB: number;
  rssAfterScansMiB: number;
  scans: number;
  eventsWaiting: number;
}

const rssMiB = (pid: number) => {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
};
/** The node flags the systemd unit starts the service with: measured as it runs. */
export function unitNodeFlags(): string[] {
  const exec = /^ExecStart=\S*node((?:\s+--\S+)*)\s/m.exec(readFileSync('systemd/passgate.service', 'utf8'));
  return exec?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchMemory(o: { scans?: number; idleMs?: number } = {}): Promise<MemoryBench> {
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
    const codes = Array.from({ length: scans }, () => issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: now - 60, exp: now + 3600, status: 1, kind: 'dynamic' }).text);
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
        guardConsole: { enabled: true, host: '127.0.0.1', port: 0 + 18088 },
        mqtt: { url: broker.url, keepaliveSeconds: 30 },
      }),
    );

    const started = performance.now();
    child = spawn(process.execPath, [...unitNodeFlags(), 'dist/device/main.js', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
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
    for (const code of codes) {
      writeSync(fd, `${code}\r`);
      await sleep(2);
    }
    closeSync(fd);
    // Wait for every scan to be recorded (the store is readable by a second process: WAL).
    const check = GateStore.openReadOnly(join(dir, 'data'));
    let eventsWaiting = 0;
    for (let i = 0; i < 600; i++) {
      eventsWaiting = check.outboxStats().depth;
      if (eventsWaiting >= scans) break;
      await sleep(100);
    }
    check.close();
    await sleep(2000);
    const rssAfterScansMiB = rssMiB(child.pid!);
    return { startToReadyMs, rssReadyMiB, rssIdleMiB, rssAfterScansMiB, scans, eventsWaiting };
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
