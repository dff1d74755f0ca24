/**
 * The online holder look-up over a real mosquitto: a timeout holds the pass (staff, LOOKUP_TIMEOUT);
 * a signed answer gets the policy's action and is cached so the next tap decides offline; unsigned,
 * forged or unmatched answers are ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { idNumber, makeBackend, makeGate, rawClient, removeTempDirs, testFederation, waitFor, type TestGate } from '../helpers/sync.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { generateKey, holderHandleOf, signEnvelope } from '../../scripts/lib/issuer.js';
import { parseLookupRequest } from '../../sync/contract.js';

const SITE = 'lookup';
const fed = testFederation();
let broker: Mosquitto;
let backend: ReferenceBackend;
let gate: TestGate;
const TIMEOUT_MS = 300;

const idcard = (id: string) => ({ input: 'idcard' as const, idNumber: id });

beforeAll(async () => {
  broker = await startMosquitto();
  backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE });
  await backend.start();
  await backend.publishTrust(1);
  await backend.publishPolicy({ version: 1, unknownHolder: 'online', lookupTimeoutMs: TIMEOUT_MS, antiPassbackSeconds: 0 });
  gate = makeGate({ federation: fed, site: SITE, gate: 'hall', brokerUrl: broker.url });
  gate.link.start();
  await waitFor(() => gate.store.document('policy')?.version === 1 && gate.link.connected, 'trust and policy');
  // A fresh holders list (else LIST_STALE decides before any look-up), not naming our holders.
  await backend.publishDelta('holders', { put: [['0'.repeat(32), 1, 1_764_000_000, 1_900_000_000]] });
  await waitFor(() => gate.store.meta('holders').version === 1, 'the holders list');
});

afterAll(async () => {
  await gate?.close();
  await backend?.stop();
  await broker?.dispose();
  removeTempDirs();
});

describe('look-up', () => {
  it('holds the pass when no answer comes in time: staff / LOOKUP_TIMEOUT', async () => {
    backend.lookupDelay = 'never';
    const asked = backend.stats.lookups;
    const t0 = Date.now();
    const v = await gate.verifier.present(idcard(idNumber('11010119900307447')));
    const took = Date.now() - t0;
    expect(v.decision).toMatchObject({ result: 'staff', reason: 'LOOKUP_TIMEOUT' });
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(took).toBeLessThan(TIMEOUT_MS + 700);
    await waitFor(() => backend.stats.lookups === asked + 1, 'the request at the backend');
  });

  it("applies the policy's action to a signed answer and caches it for the next tap, offline", async () => {
    backend.lookupDelay = 0;
    const green = idNumber('44030119851212123');
    const yellow = idNumber('44030119851212456');
    const greenHandle = holderHandleOf(fed.holderKey, green);
    backend.setHolder(greenHandle, 1);
    backend.setHolder(holderHandleOf(fed.holderKey, yellow), 2);

    expect((await gate.verifier.present(idcard(green))).decision).toMatchObject({ result: 'open', reason: 'OK', status: 1 });
    expect((await gate.verifier.present(idcard(yellow))).decision).toMatchObject({ result: 'staff', reason: 'STATUS_YELLOW' });

    // Cached as a holders entry, without moving the list version.
    expect(gate.store.entry('holders', greenHandle)).toMatchObject({ s: 1 });
    expect(gate.store.meta('holders').version).toBe(1);
    backend.lookupDelay = 'never';
    const asked = backend.stats.lookups;
    const again = await gate.verifier.present(idcard(green));
    expect(again.decision).toMatchObject({ result: 'open', reason: 'OK' });
    expect(again.latencyUs).toBeLessThan(TIMEOUT_MS * 1000);
    expect(backend.stats.lookups).toBe(asked);
  });

  it('ignores unsigned, forged and unmatched answers', async () => {
    backend.lookupDelay = 'never';
    const impostor = generateKey('ES256').key;
    const id = idNumber('31010419770101321');
    const holder = holderHandleOf(fed.holderKey, id);
    const refusalsBefore = gate.link.refusals.byCode();
    const answerer: MqttClient = await rawClient(broker.url);
    try {
      await answerer.subscribeAsync(gate.link.topics.lookupReq, { qos: 1 });
      answerer.on('message', (_t, payload) => {
        const req = parseLookupRequest(payload);
        const body = { id: req.id, holder: req.holder, s: 1, at: Math.floor(Date.now() / 1000) };
        const res = gate.link.topics.lookupRes;
        void answerer.publishAsync(res, JSON.stringify(body)); // unsigned: not an envelope at all
        void answerer.publishAsync(res, signEnvelope(impostor, 'passgate-lookup+json', body)); // unknown key
        void answerer.publishAsync(res, signEnvelope({ ...impostor, kid: fed.listSigner.kid }, 'passgate-lookup+json', body)); // forged
        void answerer.publishAsync(res, signEnvelope(fed.listSigner, 'passgate-lookup+json', { ...body, id: 'someone-else' })); // unmatched
        void answerer.publishAsync(res, signEnvelope(fed.commandSigner, 'passgate-lookup+json', body)); // wrong role
      });
      const v = await gate.verifier.present(idcard(id));
      expect(v.decision).toMatchObject({ result: 'staff', reason: 'LOOKUP_TIMEOUT' });
      await waitFor(() => gate.link.stats().lookup.ignored >= 5, 'all five answers to be seen');
    } finally {
      await answerer.endAsync();
    }
    const after = gate.link.refusals.byCode();
    const grew = (code: string) => (after[code] ?? 0) - (refusalsBefore[code] ?? 0);
    expect(grew('BAD_ENCODING')).toBe(1);
    expect(grew('UNKNOWN_KEY')).toBe(2); // the impostor's kid, and the command signer's (not a list signer)
    expect(grew('BAD_SIGNATURE')).toBe(1);
    expect(grew('UNMATCHED_ANSWER')).toBe(1);
    expect(gate.store.entry('holders', holder)).toBeUndefined();
  });

  it('answers LOOKUP_TIMEOUT at once while disconnected', async () => {
    await gate.link.stop();
    const t0 = Date.now();
    const v = await gate.verifier.present(idcard(idNumber('11010119900307448')));
    expect(v.decision).toMatchObject({ result: 'staff', reason: 'LOOKUP_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(250); // no waiting for the 300 ms timeout
  });
});
