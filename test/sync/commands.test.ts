/**
 * Signed commands over a real mosquitto: a valid `open` runs the runner once and replies ok; a
 * replayed, expired or wrong-aud command is refused with its code; every command, run or refused,
 * reaches the backend as a `command` event. Also the standard runner's `set-mode` and `sync`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, removeTempDirs, testFederation } from '../helpers/sync.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { createCommandRunner } from '../../device/command-intake.js';
import { ModeOverrides } from '../../device/modes.js';
import { waitFor } from '../helpers/wait.js';
import { makeGate, type TestGate } from '../helpers/gate.js';
import type { SystemClock } from '../../device/clock.js';

const SITE = 'commands';
const fed = testFederation();
let broker: Mosquitto;
let backend: ReferenceBackend;
let gate: TestGate<SystemClock>;
const pulses: (number | undefined)[] = [];
let resyncs = 0;
let reloads = 0;

beforeAll(async () => {
  broker = await startMosquitto();
  backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE });
  await backend.start();
  await backend.publishTrust(1);
  let g: TestGate<SystemClock> | null = null;
  gate = g = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: SITE, gate: 'door1', runCommand: (c, seq) =>
      createCommandRunner({
        pulse: (ms) => void pulses.push(ms),
        resync: () => {
          resyncs++;
          g!.link.resync();
        },
        reload: () => {
          reloads++;
          g!.verifier.reload();
        },
        modes: new ModeOverrides(g!.store, g!.clock),
        restart: () => {},
      })(c, seq) } });
  gate.link.start();
  await waitFor(() => gate.store.document('trust')?.version === 1 && gate.link.connected, { what: 'the gate with trust' });
});

afterAll(async () => {
  await gate?.close();
  await backend?.stop();
  await broker?.dispose();
  removeTempDirs();
});

describe('commands', () => {
  it('runs a valid open once and replies ok; refuses its replay', async () => {
    const signed = backend.signCommand('door1', 'open', { args: { pulseMs: 400 }, actor: 'ops:li.wei' });
    await expect(backend.sendSigned(signed)).resolves.toEqual({ jti: signed.jti, ok: true });
    expect(pulses).toEqual([400]);

    // The very same envelope again: its counter is not above the last accepted.
    await expect(backend.sendSigned(signed)).resolves.toEqual({ jti: signed.jti, ok: false, error: 'REPLAYED' });
    expect(pulses).toEqual([400]);
  });

  it('refuses an expired command and one addressed to another gate', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = backend.signCommand('door1', 'open', { iat: now - 600, exp: now - 300 });
    await expect(backend.sendSigned(expired)).resolves.toEqual({ jti: expired.jti, ok: false, error: 'EXPIRED' });
    const elsewhere = backend.signCommand('door1', 'open', { aud: 'door2' });
    await expect(backend.sendSigned(elsewhere)).resolves.toEqual({ jti: elsewhere.jti, ok: false, error: 'WRONG_AUDIENCE' });
    expect(pulses).toHaveLength(1);
  });

  it('refuses a command signed by a key without the commands role', async () => {
    const { signEnvelope } = await import('../../scripts/lib/issuer.js');
    const now = Math.floor(Date.now() / 1000);
    const text = signEnvelope(fed.listSigner, 'passgate-cmd+json', { aud: 'door1', cmd: 'open', actor: 'x', iat: now, exp: now + 60, jti: 'forged-1', ctr: 10_000 });
    await expect(backend.sendSigned({ gate: 'door1', text, jti: 'forged-1', ctr: 10_000, ttlSeconds: 60 })).resolves.toEqual({
      jti: 'forged-1',
      ok: false,
      error: 'UNKNOWN_KEY',
    });
    expect(pulses).toHaveLength(1);
  });

  it('stores a set-mode override with its expiry and runs sync and reload', async () => {
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'staff', seconds: 600 } })).resolves.toMatchObject({ ok: true });
    const mode = gate.link.modes.current();
    expect(mode).toMatchObject({ mode: 'staff' });
    expect(mode!.untilMs - Date.now()).toBeGreaterThan(590_000);
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'chaos', seconds: 5 } })).resolves.toMatchObject({ ok: false, error: 'BAD_ENCODING' });
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'normal' } })).resolves.toMatchObject({ ok: true });
    expect(gate.link.modes.current()).toBeNull();

    await expect(backend.sendCommand('door1', 'sync')).resolves.toMatchObject({ ok: true });
    await expect(backend.sendCommand('door1', 'reload')).resolves.toMatchObject({ ok: true });
    expect([resyncs, reloads]).toEqual([1, 1]);
  });

  it('turns every command, run or refused, into an event that reaches the backend', async () => {
    // open ok, open replayed, expired, wrong aud, forged, set-mode ×3, sync, reload. A verified command
    // is on record before it runs; one that then fails (bad set-mode args) gets a second event saying so.
    await waitFor(() => backend.storedEvents('door1').filter((e) => e.type === 'command').length === 11, { what: 'eleven command events' });
    const events = backend.storedEvents('door1').filter((e) => e.type === 'command').map((e) => e.body);
    expect(events.map((e) => [e.cmd, e.ok, e.error ?? null])).toEqual([
      ['open', true, null],
      [null, false, 'REPLAYED'],
      [null, false, 'EXPIRED'],
      [null, false, 'WRONG_AUDIENCE'],
      [null, false, 'UNKNOWN_KEY'],
      ['set-mode', true, null],
      ['set-mode', true, null],
      ['set-mode', false, 'BAD_ENCODING'],
      ['set-mode', true, null],
      ['sync', true, null],
      ['reload', true, null],
    ]);
    expect(events[0]).toMatchObject({ actor: 'ops:li.wei' });
  });
});
