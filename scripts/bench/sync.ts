/**
 * Sync benchmarks against a real broker (the caller starts it, e.g. with startMosquitto()):
 *
 * - snapshot1MSeconds: a gate with an empty tokens list asks for it; the reference backend answers
 *   with a 1,000,000-entry snapshot in signed chunks; timed until the gate has verified, staged and
 *   swapped all of it (target ≤ 30 s).
 * - deltaTo1000ClientsSeconds: one signed delta on `S/lists/tokens` reaching 1,000 simulated gates
 *   (MQTT clients in this process, each verifying the envelope against the list signers as a gate
 *   does, without a store each); timed from publish to the last verified copy (target ≤ 2 s).
 * - outboxDrainEventsPerSec: a gate that recorded 20,000 events while offline connects; timed until
 *   the backend acked them all and the outbox is empty (target ≥ 5,000 events/s).
 *
 * No side effects at import; temporary directories are removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { GateStore } from '../../device/store/store.js';
import { SystemClock } from '../../device/clock.js';
import { baseEvent } from '../../device/events.js';
import { compileTrust, parseTrustBundle } from '../../device/core/trust.js';
import { openEnvelope, parseEnvelope } from '../../device/core/envelope.js';
import { parseListPayload, type WireEntry } from '../../device/core/lists.js';
import { Federation } from '../lib/federation.js';
import { ReferenceBackend } from '../backend/reference-backend.js';
import { GateLink } from '../../sync/gate-link.js';
import { SiteTopics } from '../../sync/topics.js';

export interface SyncBenchResult {
  snapshot1MSeconds: number;
  deltaTo1000ClientsSeconds: number;
  outboxDrainEventsPerSec: number;
}

export async function benchSync(brokerUrl: string): Promise<SyncBenchResult> {
  const root = mkdtempSync(join(tmpdir(), 'passgate-bench-sync-'));
  const fed = Federation.create();
  try {
    const snapshot1MSeconds = await benchSnapshot(brokerUrl, fed, root, 1_000_000);
    const deltaTo1000ClientsSeconds = await benchDeltaFanOut(brokerUrl, fed, root, 1000);
    const outboxDrainEventsPerSec = await benchOutboxDrain(brokerUrl, fed, root, 20_000);
    return { snapshot1MSeconds, deltaTo1000ClientsSeconds, outboxDrainEventsPerSec };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function withBackend<T>(brokerUrl: string, fed: Federation, site: string, dir: string, fn: (b: ReferenceBackend) => Promise<T>): Promise<T> {
  const backend = new ReferenceBackend({ brokerUrl, federation: fed, site, dbPath: join(dir, `${site}-backend.db`) });
  await backend.start();
  try {
    await backend.publishTrust(1);
    return await fn(backend);
  } finally {
    await backend.stop();
  }
}

function newGate(brokerUrl: string, fed: Federation, site: string, gate: string, dir: string) {
  const store = GateStore.open(join(dir, `${site}-${gate}`));
  store.initialise({ site, gate, roots: [fed.rootSpki()] });
  const clock = new SystemClock(true);
  const link = new GateLink({ store, clock, broker: { url: brokerUrl, reconnect: { minMs: 100, maxMs: 1000 } }, runCommand: () => {}, softwareVersion: 'bench' });
  return { store, link };
}

async function until(cond: () => boolean, what: string, timeoutMs: number, intervalMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Sorted random keys, as a backend would keep them (sorted loads are ~9× faster in SQLite). */
function entries(n: number): WireEntry[] {
  const out: WireEntry[] = [];
  const buf = randomBytes(16 * n);
  for (let i = 0; i < n; i++) out.push([buf.subarray(i * 16, i * 16 + 16).toString('hex'), (i % 4) as 0 | 1 | 2 | 3, 1_764_000_000, 1_900_000_000]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

async function benchSnapshot(brokerUrl: string, fed: Federation, dir: string, n: number): Promise<number> {
  return withBackend(brokerUrl, fed, 'bench-snap', dir, async (backend) => {
    const { store, link } = newGate(brokerUrl, fed, 'bench-snap', 'g', dir);
    try {
      // Connected, trust in place, connect-time sync requests answered (nothing to send yet).
      link.start();
      await until(() => link.connected && store.document('trust') !== null && link.stats().downlink.syncRequests >= 2, 'the gate to connect', 30_000);
      await new Promise((r) => setTimeout(r, 200));
      backend.loadList('tokens', entries(n), 7); // the backend's nightly rebuild: no history, snapshot only
      const t0 = performance.now();
      link.resync(['tokens']);
      await until(() => store.meta('tokens').version === 7, 'the snapshot swap', 300_000, 20);
      const seconds = (performance.now() - t0) / 1000;
      if (store.count('tokens') !== n) throw new Error(`bench: snapshot swapped ${store.count('tokens')} entries, expected ${n}`);
      return seconds;
    } finally {
      await link.stop();
      store.close();
    }
  });
}

/** The list signers a gate would hold after applying this federation's trust bundle. */
function listSigners(fed: Federation) {
  const env = JSON.parse(fed.trustEnvelope(1, Math.floor(Date.now() / 1000) - 60)) as { payload: string };
  return compileTrust(parseTrustBundle(JSON.parse(Buffer.from(env.payload, 'base64url').toString('utf8')))).signers.lists;
}

async function benchDeltaFanOut(brokerUrl: string, fed: Federation, dir: string, clients: number): Promise<number> {
  const site = 'bench-fan';
  const topics = new SiteTopics(site);
  const signers = listSigners(fed);
  return withBackend(brokerUrl, fed, site, dir, async (backend) => {
    const conns: MqttClient[] = [];
    let verified = 0;
    let target = -1;
    try {
      for (let i = 0; i < clients; i += 100) {
        const batch = Array.from({ length: Math.min(100, clients - i) }, (_, j) => {
          const c = mqtt.connect(brokerUrl, { clientId: `bench-fan-${i + j}-${randomUUID().slice(0, 8)}`, protocolVersion: 5, reconnectPeriod: 0 });
          c.on('error', () => {});
          c.on('message', (_t, payload) => {
            // What a gate does before its store: parse, verify against signers.lists, validate.
            const env = parseEnvelope(payload.toString('utf8'));
            const p = parseListPayload(openEnvelope(env, 'passgate-list+json', signers));
            if (p.kind === 'delta' && p.delta.to === target) verified++;
          });
          conns.push(c);
          return new Promise<void>((resolve, reject) => {
            c.once('connect', () => c.subscribeAsync(topics.list('tokens'), { qos: 1 }).then(() => resolve(), reject));
            c.once('error', reject);
          });
        });
        await Promise.all(batch);
      }
      target = backend.listVersion('tokens') + 1;
      const t0 = performance.now();
      await backend.publishDelta('tokens', { put: entries(100) });
      await until(() => verified === clients, `${clients} verified copies`, 60_000, 1);
      return (performance.now() - t0) / 1000;
    } finally {
      await Promise.all(conns.map((c) => c.endAsync(true)));
    }
  });
}

async function benchOutboxDrain(brokerUrl: string, fed: Federation, dir: string, n: number): Promise<number> {
  // The outage: n decisions recorded offline. Filled without fsync per commit to keep the bench short
  // (20,000 fsyncs take 5–30 s on a virtual disk); the drain below runs with the gate's durable setting.
  const clock = new SystemClock(true);
  const fill = GateStore.open(join(dir, 'bench-drain-g'), { durability: 'normal' });
  fill.initialise({ site: 'bench-drain', gate: 'g', roots: [fed.rootSpki()] });
  const versions = { trust: 1, policy: 1, tokens: 1, holders: 1 };
  for (let i = 0; i < n; i++) {
    const handle = randomBytes(16).toString('hex');
    const e = { ...baseEvent('decision', clock), input: 'qr', format: 'HP1', issuer: 'CN-330000', handle, result: 'open', reason: 'OK', status: 1, versions, latencyUs: 830 };
    fill.recordEvent(e, e.tsMs, handle);
  }
  fill.close();
  return withBackend(brokerUrl, fed, 'bench-drain', dir, async (backend) => {
    const store = GateStore.open(join(dir, 'bench-drain-g'));
    const link = new GateLink({ store, clock, broker: { url: brokerUrl, reconnect: { minMs: 100, maxMs: 1000 } }, runCommand: () => {}, softwareVersion: 'bench' });
    try {
      const last = store.outboxBounds().lastSeq;
      if (last !== n) throw new Error(`bench: ${last} events recorded, expected ${n}`);
      const t0 = performance.now();
      link.start();
      await until(() => store.outboxBounds().firstSeq === null && backend.cursor('g').upTo === last, 'the outbox to drain', 120_000, 2);
      return Math.round(n / ((performance.now() - t0) / 1000));
    } finally {
      await link.stop();
      store.close();
    }
  });
}
