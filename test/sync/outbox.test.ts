/**
 * The outbox over a real mosquitto: a 30 s broker outage in the middle of a burst of 5,000 decisions
 * loses nothing and stores nothing twice; bounded retention reports what it drops and the backend's
 * ack moves past the hole; only a signed ack for this gate deletes, and every ack shows in R/status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, rawClient, removeTempDirs, sleep, testFederation } from '../helpers/sync.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { issueHp1, signEnvelope } from '../../scripts/lib/issuer.js';
import { SiteTopics } from '../../sync/topics.js';
import { parseStatus, type StatusPayload } from '../../sync/contract.js';
import { waitFor } from '../helpers/wait.js';
import { makeGate, type TestGate } from '../helpers/gate.js';
import type { SystemClock } from '../../device/clock.js';

const SITE = 'outbox';
const fed = testFederation();
let broker: Mosquitto;
let backend: ReferenceBackend;
const gates: TestGate<SystemClock>[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE });
  await backend.start();
  await backend.publishTrust(1);
  await backend.publishPolicy({ version: 1, antiPassbackSeconds: 0 });
});

afterAll(async () => {
  for (const g of gates) await g.close();
  await backend?.stop();
  await broker?.dispose();
  removeTempDirs();
});

describe('outbox', () => {
  it('loses and duplicates nothing when the broker is down for 30 s during a burst of 5,000 decisions', { timeout: 120_000 }, async () => {
    const g = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: SITE, gate: 'burst', link: { outbox: { ackTimeoutMs: 3000 } } } });
    gates.push(g);
    g.link.start();
    await waitFor(() => g.store.document('policy')?.version === 1 && g.link.connected, { what: 'the gate to be connected with trust and policy' });

    const now = Math.floor(Date.now() / 1000);
    const issuer = fed.issuer('CN-330000');
    const codes = Array.from({ length: 5000 }, () => issueHp1(issuer, { iss: 'CN-330000', iat: now - 60, exp: now + 3600, status: 1, kind: 'dynamic' }).text);
    const seqs: number[] = [];
    let thirtySeconds: Promise<void> | null = null;
    for (let i = 0; i < codes.length; i++) {
      const v = await g.verifier.verify({ input: 'qr', text: codes[i]! });
      expect(v.seq).not.toBeNull();
      seqs.push(v.seq!);
      if (i === 1000) {
        // A fifth of the burst is out; the broker goes away while the rest keeps coming.
        await broker.stop();
        thirtySeconds = sleep(30_000);
      }
      if (i % 50 === 49) await sleep(40); // ≈ 1,000 decisions/s
    }
    // The broker comes back only once the burst is over and 30 s have passed: the rest of the burst
    // was decided during the outage by construction, however slow the machine.
    const decidedDuringOutage = codes.length - 1001;
    expect(backend.storedCount('burst')).toBeLessThan(5000);
    await thirtySeconds;
    await broker.start();

    await waitFor(() => backend.cursor('burst').upTo >= seqs[seqs.length - 1]!, { what: 'the backend to ack every event', timeoutMs: 60_000, intervalMs: 100 });
    const stored = backend.storedSeqs('burst');
    expect(stored).toHaveLength(5000); // (gate, seq) is the primary key: a duplicate cannot be stored twice
    expect(stored).toEqual(seqs); // exactly those seqs, in order, no gap
    expect(seqs).toEqual(Array.from({ length: 5000 }, (_, i) => seqs[0]! + i));
    expect(backend.cursor('burst').conflicts).toBe(0);
    expect(decidedDuringOutage).toBeGreaterThan(3000);
    const types = new Set(backend.storedEvents('burst').map((e) => e.type));
    expect(types).toEqual(new Set(['decision']));
    // The gate lets go of them only after the ack.
    await waitFor(() => g.store.outboxBounds().firstSeq === null, { what: 'the gate outbox to empty' });
  });

  it('drops the oldest beyond maxEvents, says so in a system event, and the ack moves past the hole', async () => {
    const g = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: SITE, gate: 'full', link: { outbox: { maxEvents: 100 } } } });
    gates.push(g);
    for (let i = 0; i < 150; i++) await g.verifier.verify({ input: 'qr', text: `garbage-${i}` });
    expect(g.store.outboxBounds()).toMatchObject({ firstSeq: 1, lastSeq: 150 });
    g.link.start(); // retention runs at start, before any connection
    expect(g.store.outboxBounds()).toMatchObject({ firstSeq: 52, lastSeq: 151 });
    expect(g.store.pendingEvents(150, 1)[0]?.event).toMatchObject({ type: 'system', what: 'events_dropped', dropped: { from: 1, to: 51, count: 51 } });

    await waitFor(() => backend.cursor('full').upTo === 151, { what: 'the ack past the dropped range' });
    expect(backend.storedCount('full')).toBe(100);
    await waitFor(() => g.store.outboxBounds().firstSeq === null, { what: 'the gate outbox to empty' });
  });

  it('defect 9: only a signed ack for this gate deletes; forged, wrong-role, other-site and too-high acks delete nothing and are counted', async () => {
    // A site no backend serves: nothing acks unless the test does.
    const site = new SiteTopics('unserved');
    await backend.publishRaw(site.trust, fed.trustEnvelope(1, Math.floor(Date.now() / 1000) - 60), { retain: true });
    const g = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: 'unserved', gate: 'lonely' } });
    gates.push(g);
    for (let i = 0; i < 3; i++) await g.verifier.verify({ input: 'qr', text: `x-${i}` });
    g.link.start();
    await waitFor(() => g.store.document('trust')?.version === 1 && g.link.stats().outbox.events >= 3, { what: 'trust and the events published' });
    await sleep(200); // PUBACKs are in: still nothing may be deleted
    expect(g.store.outboxBounds()).toMatchObject({ firstSeq: 1, lastSeq: 3 });

    const observer = await rawClient(broker.url);
    const statuses: StatusPayload[] = [];
    observer.on('message', (_t, p) => statuses.push(parseStatus(p)));
    await observer.subscribeAsync(g.link.topics.status, { qos: 1 });
    try {
      const iat = Math.floor(Date.now() / 1000);
      const ack = (o: { aud?: string; upTo: number }, key = fed.listSigner) =>
        signEnvelope(key, 'passgate-ack+json', { aud: o.aud ?? 'unserved/lonely', upTo: o.upTo, iat });
      const forged = [
        JSON.stringify({ upTo: 2 }), // the pre-revision ack anyone could publish
        ack({ upTo: 2 }, fed.commandSigner), // a key without the lists role
        backend.signAck('lonely', 2), // signed for `outbox/lonely`: the same gate id at another site
        ack({ upTo: 1_000_000 }), // beyond the last seq assigned
        ack({ upTo: 2, aud: 'lonely' }), // the gate id alone
      ];
      for (const text of forged) await backend.publishRaw(g.link.topics.eventsAck, text);
      await waitFor(() => g.link.stats().outbox.ignoredAcks === forged.length, { what: 'every forged ack refused' });
      expect(g.store.outboxBounds()).toMatchObject({ firstSeq: 1, lastSeq: 3 });
      expect(g.link.stats().refusals).toMatchObject({ BAD_ENCODING: 1, UNKNOWN_KEY: 1, WRONG_AUDIENCE: 2, ACK_BEYOND_LAST_SEQ: 1 });
      // Counted in R/status, and logged by code only.
      await waitFor(() => statuses.at(-1)?.outbox.publisher.ignoredAcks === forged.length, { what: 'the refusals in R/status' });
      expect(statuses.at(-1)?.refusals.byKind['events/ack']).toBe(forged.length);
      expect(g.log.entries.filter((e) => e.msg === 'events ack refused: nothing deleted').length).toBeLessThanOrEqual(forged.length);

      await backend.publishRaw(g.link.topics.eventsAck, ack({ upTo: 2 }));
      await waitFor(() => g.store.outboxBounds().firstSeq === 3, { what: 'events 1 and 2 to go' });
    } finally {
      await observer.endAsync();
    }
  });

  it('an ack that deleted nothing still republishes R/status', async () => {
    const g = gates.find((x) => x.link.topics.gate === 'lonely')!;
    const observer = await rawClient(broker.url);
    const statuses: StatusPayload[] = [];
    observer.on('message', (_t, p) => statuses.push(parseStatus(p)));
    await observer.subscribeAsync(g.link.topics.status, { qos: 1 });
    try {
      await waitFor(() => statuses.length > 0, { what: 'the retained status' });
      const acks = g.link.stats().outbox.acks;
      await waitFor(() => statuses.at(-1)?.outbox.publisher.acks === acks, { what: 'the status to show every ack so far' });
      // The same ack again: nothing left to delete, but the counters R/status shows moved.
      const again = signEnvelope(fed.listSigner, 'passgate-ack+json', { aud: 'unserved/lonely', upTo: 2, iat: Math.floor(Date.now() / 1000) });
      await backend.publishRaw(g.link.topics.eventsAck, again);
      await waitFor(() => statuses.at(-1)?.outbox.publisher.acks === acks + 1, { what: 'R/status after an ack that deleted nothing' });
      expect(g.store.outboxBounds().firstSeq).toBe(3);
    } finally {
      await observer.endAsync();
    }
  });
});
