/**
 * Retained `R/state` over a real mosquitto: `online` (with the session) on every connect, `offline`
 * on a clean stop, and the will `lost` when the gate's process dies without a word (SIGKILL of a
 * gate-sim child). Also the retained `R/status`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, makeGate, rawClient, removeTempDirs, spawnGateSim, tempDir, testFederation, waitFor } from '../helpers/sync.js';
import { GateTopics } from '../../sync/topics.js';
import { parseState, parseStatus, type HardwareStatus, type StatePayload, type StatusPayload } from '../../sync/contract.js';

const SITE = 'state';
const fed = testFederation();
let broker: Mosquitto;
let observer: MqttClient;
const states = new Map<string, StatePayload[]>();
const statuses = new Map<string, StatusPayload>();

beforeAll(async () => {
  broker = await startMosquitto();
  observer = await rawClient(broker.url);
  observer.on('message', (topic, payload) => {
    const gate = topic.split('/')[3]!;
    if (topic.endsWith('/state')) states.set(gate, [...(states.get(gate) ?? []), parseState(payload)]);
    if (topic.endsWith('/status')) statuses.set(gate, parseStatus(payload));
  });
  await observer.subscribeAsync([`passgate/v1/${SITE}/+/state`, `passgate/v1/${SITE}/+/status`], { qos: 1 });
});

afterAll(async () => {
  await observer?.endAsync();
  await broker?.dispose();
  removeTempDirs();
});

const lastState = (gate: string) => states.get(gate)?.at(-1);

describe('R/state', () => {
  it('is online (retained, with the session) on connect and offline on a clean stop', async () => {
    const hardware: HardwareStatus = {
      gate: { phase: 'idle', alarm: false, queued: 0, holds: 0, relay: 'inactive', indicator: 'ready' },
      health: { relay: { ok: true, critical: true }, scanner0: { ok: true, critical: false } },
    };
    const g = makeGate({ federation: fed, site: SITE, gate: 'clean', brokerUrl: broker.url, link: { statusExtras: () => hardware } });
    g.link.start();
    await waitFor(() => lastState('clean')?.state === 'online', 'online');
    expect(lastState('clean')).toMatchObject({ state: 'online', session: g.link.session, version: 'test' });
    expect(g.link.session).toBe(1);

    // Retained: a client arriving later still learns it.
    const late = await rawClient(broker.url);
    const seen = new Promise<StatePayload>((resolve) => late.once('message', (_t, p) => resolve(parseState(p))));
    await late.subscribeAsync(new GateTopics(SITE, 'clean').state, { qos: 1 });
    expect(await seen).toMatchObject({ state: 'online', session: 1 });
    await late.endAsync();

    // R/status is retained too, with what gateStatus says plus the sync layer's part.
    await waitFor(() => statuses.get('clean'), 'status');
    expect(statuses.get('clean')).toMatchObject({ gate: 'clean', site: SITE, session: 1, outbox: { depth: 0 }, refusals: { total: 0 }, hardware });

    // A change the composition root reports is published soon, not only at the next period.
    hardware.health.scanner0 = { ok: false, critical: false, detail: 'reconnecting', unhealthySince: 1 };
    g.link.statusChanged();
    await waitFor(() => statuses.get('clean')?.hardware?.health.scanner0?.ok === false, 'the changed status');

    await g.close();
    await waitFor(() => lastState('clean')?.state === 'offline', 'offline');
    expect(lastState('clean')).toMatchObject({ state: 'offline', session: 1 });
  });

  it('is lost (the will) when the gate process is killed, and online with the next session after restart', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const args = ['--data-dir', dir, '--site', SITE, '--gate', 'crashy', '--root', fed.rootSpki(), '--broker', broker.url];
    const first = await spawnGateSim(args);
    const session = Number((await first.waitLine(/^connected (\d+)$/, 'the first connection'))[1]);
    await waitFor(() => lastState('crashy')?.state === 'online', 'online');
    first.proc.kill('SIGKILL');
    await first.exited;
    await waitFor(() => lastState('crashy')?.state === 'lost', 'lost');
    expect(lastState('crashy')).toMatchObject({ state: 'lost', session });

    const second = await spawnGateSim(args);
    const next = Number((await second.waitLine(/^connected (\d+)$/, 'the second connection'))[1]);
    expect(next).toBeGreaterThan(session); // the counter survived the crash
    await waitFor(() => lastState('crashy')?.state === 'online', 'online again');
    expect(lastState('crashy')?.session).toBe(next);
    second.proc.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => lastState('crashy')?.state === 'offline', 'offline');
  });

  it('reference backend: a will from an older session arriving after the new online is stale', async () => {
    const backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE });
    await backend.start();
    try {
      const t = new GateTopics(SITE, 'late-will');
      await backend.publishRaw(t.state, JSON.stringify({ state: 'online', session: 5, tsMs: 2, version: 'x' }));
      await backend.publishRaw(t.state, JSON.stringify({ state: 'lost', session: 4, tsMs: 1, version: 'x' }));
      await backend.publishRaw(t.status, JSON.stringify({ tsMs: 3, session: 5, version: 'x' })); // a marker behind it
      await waitFor(() => backend.gateStatus('late-will'), 'the marker');
      expect(backend.gateState('late-will')).toMatchObject({ state: 'online', session: 5 });
      await backend.publishRaw(t.state, JSON.stringify({ state: 'offline', session: 5, tsMs: 3, version: 'x' }));
      await waitFor(() => backend.gateState('late-will')?.state === 'offline', 'the offline of session 5');
      expect(backend.gateState('late-will')).toMatchObject({ state: 'offline', session: 5 });
    } finally {
      await backend.stop();
    }
  });
});
