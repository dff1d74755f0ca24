/**
 * Documents and lists over a real mosquitto: gaps resync and converge, duplicates are ignored,
 * snapshots fill a gate the history cannot, and forged / wrong-role / wrong-typ / downgraded
 * envelopes are refused with the store unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, closeAll, testFederation } from '../helpers/sync.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { generateKey, signEnvelope } from '../../scripts/lib/issuer.js';
import type { GateStore } from '../../device/store/store.js';
import type { WireEntry } from '../../device/core/lists.js';
import { randomBytes } from 'node:crypto';
import { waitFor } from '../helpers/wait.js';
import { makeGate, type TestGate } from '../helpers/gate.js';
import type { SystemClock } from '../../device/clock.js';

const SITE = 'downlink';
const fed = testFederation();
let broker: Mosquitto;
let backend: ReferenceBackend;
let gate: TestGate<SystemClock>;

const key = () => randomBytes(16).toString('hex');
const entry = (s: 0 | 1 | 2 | 3 = 0): WireEntry => [key(), s, 1_764_000_000, 1_900_000_000];

function storeState(store: GateStore) {
  return {
    trust: store.document('trust'),
    policy: store.document('policy'),
    tokens: { ...store.meta('tokens'), count: store.count('tokens') },
    holders: { ...store.meta('holders'), count: store.count('holders') },
  };
}

/** Waits until the gate has counted one more refusal with `code`. */
async function refusedWith(code: string, before: number): Promise<void> {
  await waitFor(() => (gate.link.refusals.byCode()[code] ?? 0) > before, { what: `a ${code} refusal` });
}

beforeAll(async () => {
  broker = await startMosquitto();
  backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE, options: { snapshotChunkSize: 1000 } });
  await backend.start();
  await backend.publishTrust(1);
  await backend.publishPolicy({ version: 2 });
  gate = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: SITE, gate: 'g1' } });
  gate.link.start();
  await waitFor(() => gate.store.document('policy')?.version === 2, { what: 'trust and policy on the gate' });
  // Let the connect-time sync requests (one per list) come and go, so what follows is caused by the test.
  await waitFor(() => gate.link.connected && backend.stats.syncRequests >= 2, { what: 'the connect-time sync requests' });
});

afterAll(() => closeAll(gate, backend, broker));

/** Publishes `text` on `topic` and expects the gate to refuse it with `code`, its store unchanged. */
async function expectRefused(topic: string, text: string, code: string): Promise<void> {
  const before = storeState(gate.store);
  const n = gate.link.refusals.byCode()[code] ?? 0;
  await backend.publishRaw(topic, text);
  await refusedWith(code, n);
  expect(storeState(gate.store)).toEqual(before);
}

describe('list sync', () => {
  it('applies a delta, resyncs after a gap and converges; ignores an out-of-order duplicate', async () => {
    const a = entry(0);
    const b = entry(3);
    const c = entry(2);
    const first = await backend.publishDelta('tokens', { put: [a] });
    await waitFor(() => gate.store.meta('tokens').version === first.to, { what: 'the first delta' });
    expect(gate.store.entry('tokens', a[0])?.s).toBe(0);

    // The gate misses one delta (never published) and sees the next: from > held is a gap.
    const missed = await backend.publishDelta('tokens', { put: [b] }, { publish: false });
    const requestsBefore = backend.stats.syncRequests;
    const gapsBefore = gate.link.refusals.byCode().LIST_GAP ?? 0;
    const next = await backend.publishDelta('tokens', { put: [c], del: [a[0]] });
    await waitFor(() => gate.store.meta('tokens').version === next.to, { what: 'convergence after the gap' });
    expect(gate.link.refusals.byCode().LIST_GAP).toBe(gapsBefore + 1);
    expect(gate.log.entries.some((e) => e.msg === 'requesting list sync' && String((e.obj as { why?: string }).why).startsWith('LIST_GAP'))).toBe(true);
    expect(backend.stats.syncRequests).toBeGreaterThan(requestsBefore);
    expect(gate.store.entry('tokens', a[0])).toBeUndefined();
    expect(gate.store.entry('tokens', b[0])?.s).toBe(3);
    expect(gate.store.entry('tokens', c[0])?.s).toBe(2);
    expect(gate.store.count('tokens')).toBe(backend.listCount('tokens'));

    // The missed delta turns up late, out of order: to ≤ held, a duplicate, ignored quietly.
    const before = storeState(gate.store);
    const refusalsBefore = gate.link.refusals.total();
    const ignoredBefore = gate.link.stats().downlink.ignored;
    const syncBefore = backend.stats.syncRequests;
    await backend.publishRaw(backend.topics.list('tokens'), missed.text);
    await waitFor(() => gate.link.stats().downlink.ignored > ignoredBefore, { what: 'the duplicate to be seen' });
    expect(storeState(gate.store)).toEqual(before);
    expect(gate.link.refusals.total()).toBe(refusalsBefore);
    expect(backend.stats.syncRequests).toBe(syncBefore);
  });

  it('fills a gate from a snapshot in chunks when the history does not reach back', async () => {
    const entries = Array.from({ length: 2500 }, () => entry(1));
    backend.loadList('holders', entries, 50); // history forgotten: only a snapshot can bring a gate to 50
    const snapshotsBefore = backend.stats.snapshotsSent;
    gate.link.resync(['holders']);
    await waitFor(() => gate.store.meta('holders').version === 50, { what: 'the snapshot swap' });
    expect(gate.store.count('holders')).toBe(2500);
    expect(backend.stats.snapshotsSent).toBe(snapshotsBefore + 1);
    expect(gate.link.stats().downlink.staged).toBe(2); // 3 chunks of ≤ 1000: two staged, the third swaps
  });
});

describe('list freshness', () => {
  it('keeps an unchanged list fresh with empty deltas (the reference backend heartbeat)', async () => {
    const quiet = makeBackend({ brokerUrl: broker.url, federation: fed, site: 'quiet', options: { listHeartbeatSeconds: 1 } });
    await quiet.start();
    await quiet.publishTrust(1);
    const g = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: 'quiet', gate: 'q1' } });
    try {
      g.link.start();
      await waitFor(() => g.store.meta('tokens').version >= 1 && g.store.meta('holders').version >= 1, { what: 'heartbeat deltas', timeoutMs: 5000 });
      expect(g.store.meta('tokens').updatedAtMs).not.toBeNull();
      expect(g.store.count('tokens')).toBe(0);
    } finally {
      await g.close();
      await quiet.stop();
    }
  });
});

describe('envelopes that must not touch the store', () => {
  it('refuses a forged policy (payload altered after signing): BAD_SIGNATURE', async () => {
    const good = JSON.parse(fed.policyEnvelope({ version: 9 })) as { protected: string; payload: string; signature: string };
    const forged = { ...good, payload: Buffer.from(JSON.stringify({ version: 9, status: { green: 'open', yellow: 'open', red: 'open' } })).toString('base64url') };
    const before = storeState(gate.store);
    const n = gate.link.refusals.byCode().BAD_SIGNATURE ?? 0;
    await backend.publishRaw(backend.topics.policy, JSON.stringify(forged));
    await refusedWith('BAD_SIGNATURE', n);
    expect(storeState(gate.store)).toEqual(before);
  });

  it('refuses a policy signed by a key of another role (the list signer): UNKNOWN_KEY', async () => {
    const text = signEnvelope(fed.listSigner, 'passgate-policy+json', { version: 10 });
    await expectRefused(backend.topics.policy, text, 'UNKNOWN_KEY');
  });

  it('refuses a validly signed list delta arriving on the policy topic: WRONG_TYPE', async () => {
    const v = backend.listVersion('tokens');
    const text = signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'tokens', from: v, to: v + 1, put: [entry(0)], del: [] });
    await expectRefused(backend.topics.policy, text, 'WRONG_TYPE');
  });

  it('refuses a list delta signed by an unknown key even with the right kid: BAD_SIGNATURE', async () => {
    const impostor = { ...generateKey('ES256').key, kid: fed.listSigner.kid };
    const v = gate.store.meta('tokens').version;
    const text = signEnvelope(impostor, 'passgate-list+json', { list: 'tokens', from: v, to: v + 1, put: [entry(0)], del: [] });
    await expectRefused(backend.topics.list('tokens'), text, 'BAD_SIGNATURE');
  });

  it('refuses a downgraded policy and trust bundle: DOWNGRADE', async () => {
    const before = storeState(gate.store);
    const n = gate.link.refusals.byCode().DOWNGRADE ?? 0;
    await backend.publishRaw(backend.topics.policy, fed.policyEnvelope({ version: 1, status: { green: 'open', yellow: 'open', red: 'open' } }));
    await refusedWith('DOWNGRADE', n);
    await backend.publishTrust(3);
    await waitFor(() => gate.store.document('trust')?.version === 3, { what: 'trust 3' });
    const afterTrust = storeState(gate.store);
    await backend.publishRaw(backend.topics.trust, fed.trustEnvelope(2, Math.floor(Date.now() / 1000) - 60));
    await refusedWith('DOWNGRADE', n + 1);
    expect(storeState(gate.store)).toEqual(afterTrust);
    expect(afterTrust.policy).toEqual(before.policy);
  });

  it('refuses garbage and shows refusals per code in R/status', async () => {
    const n = gate.link.refusals.byCode().BAD_ENCODING ?? 0;
    await backend.publishRaw(backend.topics.list('holders'), 'not an envelope');
    await refusedWith('BAD_ENCODING', n);
    await gate.link.publishStatus();
    const status = await waitFor(() => {
      const s = backend.gateStatus('g1') as { refusals?: { byCode: Record<string, number> } } | undefined;
      return s?.refusals && (s.refusals.byCode.BAD_ENCODING ?? 0) > n ? s : null;
    }, { what: 'R/status with the refusal' });
    expect(status.refusals?.byCode.DOWNGRADE).toBeGreaterThan(0);
    expect(gate.log.entries.some((e) => e.level === 'warn' && (e.obj as { code?: string }).code === 'BAD_ENCODING')).toBe(true);
  });
});
