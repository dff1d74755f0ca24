/**
 * Event commit → broker PUBLISH, on a loopback broker: how long an event recorded by the gate
 * waits before it reaches the broker (target p99 ≤ 20 ms).
 *
 * A gate built the way the service builds it, a reference backend acking what it stores, and an
 * observer subscribed to the gate's `R/events`. Each decision is committed, its event id noted with
 * the time of the commit; the observer notes when the PUBLISH carrying that id arrives. Decisions
 * are paced (not a flood): this measures the wait, not the throughput (the drain bench does that).
 *
 * No side effects at import; the temporary directory is removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { GateStore } from '../../device/store/store.js';
import { SystemClock } from '../../device/clock.js';
import { parseConfig } from '../../device/config.js';
import { createLogger, moduleLogger } from '../../device/log.js';
import { Verifier } from '../../device/verifier.js';
import { buildLink } from '../../device/main.js';
import { Federation } from '../lib/federation.js';
import { ReferenceBackend } from '../backend/reference-backend.js';
import { GateTopics } from '../../sync/topics.js';

export interface UplinkBenchResult {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const SITE = 'bench-up';
const GATE = 'g';

export async function benchUplink(brokerUrl: string, samples = 300, gapMs = 15): Promise<UplinkBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-uplink-'));
  const fed = Federation.create();
  const backend = new ReferenceBackend({ brokerUrl, federation: fed, site: SITE, dbPath: join(dir, 'backend.db') });
  await backend.start();
  const observer = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  const committedAt = new Map<string, number>();
  const waits: number[] = [];
  observer.on('message', (_topic, payload) => {
    const at = performance.now();
    const batch = JSON.parse(payload.toString('utf8')) as { events: { id: string }[] };
    for (const e of batch.events) {
      const t = committedAt.get(e.id);
      if (t !== undefined) {
        waits.push(at - t);
        committedAt.delete(e.id);
      }
    }
  });
  await observer.subscribeAsync(new GateTopics(SITE, GATE).events, { qos: 1 });
  const init = GateStore.open(join(dir, 'gate'));
  init.initialise({ site: SITE, gate: GATE, roots: [fed.rootSpki()] });
  init.close();
  const gate = await startGate(join(dir, 'gate'), brokerUrl);
  try {
    await backend.publishTrust(1);
    await until(() => gate.connected(), 'the gate to connect', 30_000);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < samples; i++) {
      const { seq, id, at } = await gate.decide(`BENCH-${i}`);
      if (seq === null) throw new Error('bench: decision not recorded');
      committedAt.set(id, at);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    await until(() => waits.length === samples, `${samples} events at the broker`, 30_000);
  } finally {
    await gate.stop();
    await observer.endAsync(true);
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  waits.sort((a, b) => a - b);
  const q = (p: number) => Math.round(waits[Math.min(waits.length - 1, Math.floor(p * waits.length))]! * 100) / 100;
  return { samples, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1) };
}

/** The gate, built as the service builds it. */
async function startGate(dataDir: string, brokerUrl: string) {
  const config = parseConfig({ dataDir, durability: 'normal', logging: { level: 'silent' }, gpio: { simulated: true, relay: { line: 17, activeLow: true } }, mqtt: { url: brokerUrl } });
  const root = createLogger(config.logging);
  const store = GateStore.open(dataDir, { durability: 'normal' });
  const clock = new SystemClock(true);
  let verifier: Verifier | null = null;
  const link = buildLink(config, store, clock, root, () => verifier, () => null, () => {});
  verifier = new Verifier(store, clock, link.lookupPort, moduleLogger(root, 'verifier'));
  link.start();
  return {
    connected: () => link.connected,
    decide: async (text: string) => {
      const v = await verifier!.present({ input: 'qr', text });
      const at = performance.now();
      const last = store.pendingEvents(v.seq! - 1, 1)[0]!;
      return { seq: v.seq, id: (last.event as { id: string }).id, at };
    },
    stop: async () => {
      await link.stop();
      store.close();
    },
  };
}

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
