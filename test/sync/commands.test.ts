/**
 * Signed commands over a real mosquitto: a valid `open` runs the runner once and replies ok; a
 * replayed, expired or wrong-aud command is refused with its code; every command whose envelope
 * verified, run or refused, reaches the backend as a `command` event; one that does not verify leaves
 * nothing but a count. Also the standard runner's `set-mode` and `sync`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, makeGate, removeTempDirs, testFederation, waitFor, type TestGate } from '../helpers/sync.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { createCommandRunner } from '../../sync/commands.js';
import { ModeOverrides } from '../../device/modes.js';

const SITE = 'commands';
const fed = testFederation();
let broker: Mosquitto;
let backend: ReferenceBackend;
let gate: TestGate;
const pulses: (number | undefined)[] = [];
let resyncs = 0;
let reloads = 0;

beforeAll(async () => {
  broker = await startMosquitto();
  backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: SITE });
  await backend.start();
  await backend.publishTrust(1);
  let g: TestGate | null = null;
  gate = g = makeGate({
    federation: fed,
    site: SITE,
    gate: 'door1',
    brokerUrl: broker.url,
    runCommand: (c, seq) =>
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
      })(c, seq),
  });
  gate.link.start();
  await waitFor(() => gate.store.document('trust')?.version === 1 && gate.link.connected, 'the gate with trust');
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
    const elsewhere = backend.signCommand('door1', 'open', { aud: `${SITE}/door2` });
    await expect(backend.sendSigned(elsewhere)).resolves.toEqual({ jti: elsewhere.jti, ok: false, error: 'WRONG_AUDIENCE' });
    expect(pulses).toHaveLength(1);
  });

  it('defect 11: a command signed for the same gate id at another site is refused WRONG_AUDIENCE, recorded and answered', async () => {
    // Another station's backend, same federation and command key, its own gate called door1.
    const replayed = backend.signCommand('door1', 'open', { aud: 'other-station/door1', actor: 'ops:other' });
    await expect(backend.sendSigned(replayed)).resolves.toEqual({ jti: replayed.jti, ok: false, error: 'WRONG_AUDIENCE' });
    // The pre-revision form, the gate id alone, names no site: refused too.
    const bare = backend.signCommand('door1', 'open', { aud: 'door1' });
    await expect(backend.sendSigned(bare)).resolves.toEqual({ jti: bare.jti, ok: false, error: 'WRONG_AUDIENCE' });
    expect(pulses).toHaveLength(1);
    const recorded = await waitFor(() => backend.storedEvents('door1').find((e) => e.body.jti === replayed.jti), 'the refused command on record');
    // Its envelope verified: what it asked for and who asked are on record.
    expect(recorded.body).toMatchObject({ type: 'command', cmd: 'open', actor: 'ops:other', ok: false, error: 'WRONG_AUDIENCE' });
  });

  it('defect 10: a command whose envelope does not verify leaves no event and no reply, only a count and a rate-limited log line', async () => {
    const { signEnvelope } = await import('../../scripts/lib/issuer.js');
    const now = Math.floor(Date.now() / 1000);
    const body = (jti: string) => ({ aud: `${SITE}/door1`, cmd: 'open', actor: 'x', iat: now, exp: now + 60, jti, ctr: 10_000 });
    const good = backend.signCommand('door1', 'reload');
    const env = JSON.parse(good.text) as { protected: string; payload: string; signature: string };
    const forged = {
      UNKNOWN_KEY: signEnvelope(fed.listSigner, 'passgate-cmd+json', body('forged-key')), // a key without the commands role
      BAD_SIGNATURE: JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(body('forged-sig'))).toString('base64url') }),
      WRONG_TYPE: signEnvelope(fed.listSigner, 'passgate-lookup+json', body('forged-typ')),
      BAD_ENCODING: '{"jti": "evil\u202e text", "protected": 1}',
    };
    const seqBefore = gate.store.outboxBounds().lastSeq;
    const before = gate.link.stats().commands;
    const t = gate.link.topics;
    for (const text of Object.values(forged)) await backend.publishRaw(t.cmd, text);
    // A flood of one kind: must not push anything out of the outbox (nothing is recorded at all).
    for (let i = 0; i < 300; i++) await backend.publishRaw(t.cmd, forged.BAD_SIGNATURE);
    // Commands are taken in arrival order: once this one is answered, every forged one was handled.
    await expect(backend.sendSigned(good)).resolves.toEqual({ jti: good.jti, ok: true });

    const after = gate.link.stats().commands;
    expect(after.unverified - before.unverified).toBe(304);
    expect(after.refused).toBe(before.refused);
    expect(gate.store.outboxBounds().lastSeq).toBe(seqBefore + 1); // only the reload
    for (const jti of ['forged-key', 'forged-sig', 'forged-typ']) expect(backend.commandResult(jti)).toBeUndefined();
    expect(gate.link.stats().refusals).toMatchObject({ UNKNOWN_KEY: 1, WRONG_TYPE: 1, BAD_ENCODING: 1 });
    // One line per reason code (the flood is suppressed), naming the code and nothing from the message.
    const lines = gate.log.entries.filter((e) => e.msg === 'command envelope does not verify: dropped');
    expect(lines.map((e) => (e.obj as { code: string }).code).sort()).toEqual(['BAD_ENCODING', 'BAD_SIGNATURE', 'UNKNOWN_KEY', 'WRONG_TYPE']);
    expect(JSON.stringify(lines)).not.toMatch(/forged|evil/);
    // Counted in R/status.
    await waitFor(() => (backend.gateStatus('door1')?.commands.unverified ?? 0) >= after.unverified, 'the count in R/status');
    expect(backend.gateStatus('door1')?.refusals.byKind.cmd).toBeGreaterThanOrEqual(304);
  });

  it('stores a set-mode override with its expiry and runs sync and reload', async () => {
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'staff', seconds: 600 } })).resolves.toMatchObject({ ok: true });
    const mode = gate.link.modes.current();
    expect(mode).toMatchObject({ mode: 'staff' });
    expect(mode!.untilMs - Date.now()).toBeGreaterThan(590_000);
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'chaos', seconds: 5 } })).resolves.toMatchObject({ ok: false, error: 'BAD_ENCODING' });
    await expect(backend.sendCommand('door1', 'set-mode', { args: { mode: 'normal' } })).resolves.toMatchObject({ ok: true });
    expect(gate.link.modes.current()).toBeNull();

    const [resyncsBefore, reloadsBefore] = [resyncs, reloads];
    await expect(backend.sendCommand('door1', 'sync')).resolves.toMatchObject({ ok: true });
    await expect(backend.sendCommand('door1', 'reload')).resolves.toMatchObject({ ok: true });
    expect([resyncs - resyncsBefore, reloads - reloadsBefore]).toEqual([1, 1]);
  });

  it('turns every command whose envelope verified, run or refused, into an event that reaches the backend', async () => {
    // open ok, open replayed, expired, wrong aud ×3, reload, set-mode ×3, sync, reload. A verified
    // command is on record before it runs; one that then fails (bad set-mode args) gets a second event
    // saying so. The forged ones of defect 10 left nothing.
    const expected = [
      ['open', true, null],
      ['open', false, 'REPLAYED'],
      ['open', false, 'EXPIRED'],
      ['open', false, 'WRONG_AUDIENCE'],
      ['open', false, 'WRONG_AUDIENCE'],
      ['open', false, 'WRONG_AUDIENCE'],
      ['reload', true, null],
      ['set-mode', true, null],
      ['set-mode', true, null],
      ['set-mode', false, 'BAD_ENCODING'],
      ['set-mode', true, null],
      ['sync', true, null],
      ['reload', true, null],
    ];
    await waitFor(() => backend.storedEvents('door1').filter((e) => e.type === 'command').length === expected.length, 'every command event');
    const events = backend.storedEvents('door1').filter((e) => e.type === 'command').map((e) => e.body);
    expect(events.map((e) => [e.cmd, e.ok, e.error ?? null])).toEqual(expected);
    expect(events[0]).toMatchObject({ actor: 'ops:li.wei' });
    expect(events[1]).toMatchObject({ actor: 'ops:li.wei', jti: events[0]!.jti }); // the replay, as signed
    expect(events.some((e) => String(e.jti).startsWith('forged'))).toBe(false);
  });
});
