/**
 * Event commit → broker PUBLISH, on a loopback broker: how long an event recorded by the gate
 * waits before it reaches the broker (target p99 ≤ 20 ms).
 *
 * A gate built by compose as the service builds it, and an observer subscribed to the gate's
 * `R/events` that acks each batch as a backend would (a signed, retained `R/events/ack`), without a backend's
 * database: a synchronous SQLite fsync in this one process would stall the event loop and be
 * measured as the gate's wait. Each decision is committed, its event id noted with the time of the
 * commit; the observer notes when the PUBLISH carrying that id arrives. Decisions are paced (not a
 * flood): this measures the wait, not the throughput (the drain bench does that).
 *
 * No side effects at import; the temporary directory is removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { GateStore } from '../../device/store/store.js';
import { parseConfig } from '../../device/config.js';
import { compose } from '../../app/compose.js';
import { Federation } from '../lib/federation.js';
import { signEnvelope } from '../lib/issuer.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
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
  const topics = new GateTopics(SITE, GATE);
  const observer = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  (observer.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true); // its acks go out at once, as a backend's should
  const committedAt = new Map<string, number>();
  const waits: number[] = [];
  observer.on('message', (_topic, payload) => {
    const at = performance.now();
    const batch = JSON.parse(payload.toString('utf8')) as { events: { id: string; seq: number }[] };
    const upTo = Math.max(...batch.events.map((e) => e.seq));
    const ack = signEnvelope(fed.listSigner, 'passgate-ack+json', { aud: `${SITE}/${GATE}`, upTo, iat: Math.floor(Date.now() / 1000) });
    void observer.publishAsync(topics.eventsAck, ack, { qos: 1, retain: true }).catch(() => {});
    for (const e of batch.events) {
      const t = committedAt.get(e.id);
      if (t !== undefined) {
        waits.push(at - t);
        committedAt.delete(e.id);
      }
    }
  });
  await observer.subscribeAsync(topics.events, { qos: 1 });
  const init = GateStore.open(join(dir, 'gate'));
  init.initialise({ site: SITE, gate: GATE, roots: [fed.rootSpki()] });
  ingestEnvelope(fed.trustEnvelope(1, Math.floor(Date.now() / 1000) - 60), init, new SystemClock(true)); // the list signer verifies acks
  init.close();
  const gate = await startGate(join(dir, 'gate'), brokerUrl);
  try {
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
    await observer.publishAsync(topics.eventsAck, '', { qos: 1, retain: true }).catch(() => {});
    await observer.endAsync(true);
    rmSync(dir, { recursive: true, force: true });
  }
  waits.sort((a, b) => a - b);
  const q = (p: number) => Math.round(waits[Math.min(waits.length - 1, Math.floor(p * waits.length))]! * 100) / 100;
  return { samples, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1) };
}

/** The gate, built by compose as the service builds it. */
async function startGate(dataDir: string, brokerUrl: string) {
  const config = parseConfig({
    dataDir,
    durability: 'normal',
    clock: { trusted: 'system' }, // a simulated gate trusts the host's clock
    logging: { level: 'silent' },
    gpio: { simulated: true, relay: { line: 17, activeLow: true } },
    guardConsole: { enabled: false },
    mqtt: { url: brokerUrl },
  });
  const gate = await compose(config, { inputs: [] });
  await gate.start();
  return {
    connected: () => gate.link!.connected,
    decide: async (text: string) => {
      const v = await gate.verifier.verify({ input: 'qr', text });
      const at = performance.now();
      const last = gate.store.pendingEvents(v.seq! - 1, 1)[0]!;
      return { seq: v.seq, id: (last.event as { id: string }).id, at };
    },
    stop: () => gate.stop(),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
