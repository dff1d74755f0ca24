/** The guard console over real HTTP on an ephemeral loopback port. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { GateController } from '../../../device/gate/controller.js';
import { startGuardConsole, type GuardConsole } from '../../../device/gate/guard-console.js';
import type { EventBody, GateSettings } from '../../../device/gate/machine.js';
import { decision } from './harness.js';

const ID_NUMBER = '11010519491231002X';

let consoleServer: GuardConsole;
let gate: GateController;
let calls: string[];
let events: EventBody[];
let failRecord: boolean;
let base: string;

async function setup(settings: Partial<GateSettings> = {}) {
  calls = [];
  events = [];
  failRecord = false;
  let seq = 500;
  gate = new GateController({
    settings,
    now: () => performance.now(),
    relay: { set: (l) => void calls.push(`relay:${l}`) },
    record: (e) => {
      if (failRecord) throw new Error('disk full');
      events.push(e);
      calls.push(`event:${e.type}`);
      return ++seq;
    },
  });
  gate.boot();
  consoleServer = await startGuardConsole({ host: '127.0.0.1', port: 0, gate });
  base = `http://127.0.0.1:${consoleServer.port}`;
}

function hold(over: Parameters<typeof decision>[0] = {}): string {
  const before = new Set(gate.holds().map((h) => h.id));
  gate.actOn(decision({ result: 'staff', reason: 'HOLDER_UNKNOWN', input: 'idcard', format: 'IDCARD', issuer: null, seq: 42, displayName: '王*', ...over }));
  return gate.holds().find((h) => !before.has(h.id))!.id;
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

beforeEach(async () => setup());
afterEach(async () => {
  gate.stop();
  await consoleServer.close();
});

describe('guard console', () => {
  it('listens on loopback and lists held passes: masked name, reason, format, issuer, age — nothing else', async () => {
    expect(consoleServer.host).toBe('127.0.0.1');
    hold();
    hold({ displayName: '欧阳修文', input: 'qr', format: 'HP1', issuer: 'CN-330000', reason: 'STATUS_YELLOW', seq: 43 });
    const res = await fetch(`${base}/holds`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(ID_NUMBER);
    const { holds } = JSON.parse(text) as { holds: Record<string, unknown>[] };
    expect(holds).toHaveLength(2);
    for (const h of holds) expect(Object.keys(h).sort()).toEqual(['ageMs', 'expiresInMs', 'format', 'id', 'input', 'issuer', 'maskedName', 'reason']);
    expect(holds[0]).toMatchObject({ maskedName: '王*', reason: 'HOLDER_UNKNOWN', format: 'IDCARD', issuer: null, input: 'idcard' });
    // A name that arrives unmasked is masked here.
    expect(holds[1]).toMatchObject({ maskedName: '欧***', format: 'HP1', issuer: 'CN-330000' });
    expect(typeof holds[0]!.ageMs).toBe('number');
  });

  it('approve: 200, override event GUARD_APPROVED with the actor recorded before the relay moves', async () => {
    const id = hold();
    const res = await post(`/holds/${id}/approve`, { actor: 'guard:wang' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, outcome: 'opened', seq: 501 });
    expect(events[0]).toMatchObject({ type: 'override', reason: 'GUARD_APPROVED', result: 'open', actor: 'guard:wang', ref: 42 });
    expect(calls.indexOf('event:override')).toBeLessThan(calls.indexOf('relay:active'));
    expect(calls).toContain('relay:active');
    expect(gate.holds()).toEqual([]);
  });

  it('deny: 200, override event GUARD_DENIED, the relay never moves', async () => {
    const id = hold();
    const res = await post(`/holds/${id}/deny`, { actor: 'guard:li' });
    expect(res.status).toBe(200);
    expect(events).toEqual([expect.objectContaining({ type: 'override', reason: 'GUARD_DENIED', result: 'deny', actor: 'guard:li' })]);
    expect(calls.filter((c) => c === 'relay:active')).toEqual([]);
  });

  it('refuses a decision without a proper actor, for an unknown hold, or from a foreign page', async () => {
    const id = hold();
    expect((await post(`/holds/${id}/approve`, {})).status).toBe(400);
    expect((await post(`/holds/${id}/approve`, { actor: 'a b' })).status).toBe(400);
    expect((await post(`/holds/${id}/approve`, { actor: 'x'.repeat(65) })).status).toBe(400);
    const bad = await fetch(`${base}/holds/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(bad.status).toBe(400);
    const unknown = await post('/holds/deadbeef/approve', { actor: 'guard:wang' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ ok: false, error: 'NO_SUCH_HOLD' });
    expect((await post(`/holds/${id}/approve`, { actor: 'guard:wang' }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await fetch(`${base}/holds/${id}/approve`)).status).toBe(405);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect(events).toEqual([]);
    expect(gate.holds()).toHaveLength(1);
  });

  it('503 when the override cannot be recorded: nothing moved, the hold remains', async () => {
    const id = hold();
    failRecord = true;
    const res = await post(`/holds/${id}/approve`, { actor: 'guard:wang' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, error: 'NOT_RECORDED' });
    expect(calls.filter((c) => c === 'relay:active')).toEqual([]);
    expect(gate.holds()).toHaveLength(1);
  });

  it('409 when the gate is busy and configured to refuse', async () => {
    gate.stop();
    await consoleServer.close();
    await setup({ busy: 'refuse' });
    gate.actOn(decision({ seq: 1 }));
    const id = hold();
    const res = await post(`/holds/${id}/approve`, { actor: 'guard:wang' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ ok: false, error: 'BUSY' });
  });

  it('serves an HTML page whose forms approve and redirect back', async () => {
    const id = hold();
    const anon = await (await fetch(`${base}/`)).text();
    expect(anon).toContain('王*');
    expect(anon).not.toContain(`/holds/${id}/approve`); // no buttons before the guard says who they are
    const page = await (await fetch(`${base}/?actor=guard:wang`)).text();
    expect(page).toContain(`action="/holds/${id}/approve"`);
    expect(page).toContain('value="guard:wang"');

    // A form post, as the browser sends it (Origin is this server).
    const res = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const body = 'actor=guard%3Awang';
      const req = request(
        `${base}/holds/${id}/approve`,
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, 'content-length': Buffer.byteLength(body) } },
        (r) => {
          r.resume();
          resolve({ status: r.statusCode!, location: r.headers.location });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(res).toEqual({ status: 303, location: '/?actor=guard%3Awang' });
    expect(events[0]).toMatchObject({ type: 'override', reason: 'GUARD_APPROVED', actor: 'guard:wang' });
  });

  it('escapes what it shows', async () => {
    hold({ displayName: '<script>*' });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).not.toContain('<script>*');
    // §2's display rule first (first character and stars, even when a `*` is there), then HTML escaping.
    expect(page).toContain('&lt;***');
  });
});
