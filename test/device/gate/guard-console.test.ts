/** The guard console over real HTTP on an ephemeral loopback port: accounts, sessions, Host, CSRF, limits. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateController } from '../../../device/gate/controller.js';
import { startGuardConsole, hostName, type ConsoleGate, type ConsoleStatus, type GuardConsole } from '../../../device/gate/guard-console.js';
import { hashPassword, verifyPassword } from '../../../device/gate/guard-accounts.js';
import { Lockout, SessionBook } from '../../../device/gate/console-auth.js';
import { pickLang } from '../../../device/gate/console-text.js';
import { statusHtml } from '../../../device/gate/console-view.js';
import { EventBus } from '../../../device/bus.js';
import type { GateEvent } from '../../../device/events.js';
import type { EventBody } from '../../../device/gate/machine.js';
import { signIn } from '../../../scripts/lib/console-client.js';
import { waitFor } from '../../helpers/wait.js';
import { decision } from './harness.js';

const PASSWORD = 'correct horse battery';
let hashes: Map<string, string>;
let consoleServer: GuardConsole;
let gate: GateController;
let calls: string[];
let events: EventBody[];
let base: string;
let clock: number;
let bus: EventBus;

function status(over: Partial<ConsoleStatus> = {}): ConsoleStatus {
  const now = Date.now();
  return {
    site: 'hospital-1',
    gate: 'east-01',
    nowMs: now,
    clockTrusted: true,
    trust: { version: 3, updatedAtMs: now - 60_000, expiresAtMs: now + 7 * 86_400_000, issuers: { 'CN-330000': '浙江省' } },
    policy: { version: 2, updatedAtMs: now - 60_000, listMaxAgeSeconds: 86_400 },
    lists: { tokens: { version: 5, updatedAtMs: now - 60_000 }, holders: { version: 7, updatedAtMs: now - 60_000 } },
    outbox: { depth: 0, oldestTsMs: null },
    broker: 'connected',
    relay: 'inactive',
    alarm: false,
    parts: [{ name: 'scanner0', ok: true }],
    ...over,
  };
}

async function setup(o: { accounts?: boolean; kiosk?: boolean; maxConnections?: number } = {}) {
  calls = [];
  events = [];
  clock = 0;
  hashes = new Map();
  if (o.accounts !== false) hashes.set('wang', await hashPassword(PASSWORD));
  let seq = 500;
  gate = new GateController({
    now: () => performance.now(),
    relay: { set: (l) => void calls.push(`relay:${l}`) },
    record: (e) => {
      events.push(e);
      calls.push(`event:${e.type}`);
      return ++seq;
    },
  });
  gate.boot();
  const port: ConsoleGate = {
    holds: () => gate.holds(),
    decide: (id, d, actor, note) => gate.decide(id, d, actor, note),
    manualOpen: (actor, note) => {
      const s = ++seq;
      events.push({ type: 'override', actor, note, manual: true });
      calls.push('event:override');
      const outcome = gate.command(s, 300);
      return outcome.kind === 'refused' ? { ok: false, error: outcome.why } : { ok: true, outcome, seq: s };
    },
    status: () => status(),
  };
  bus = new EventBus();
  consoleServer = await startGuardConsole({
    host: '127.0.0.1',
    port: 0,
    gate: port,
    accounts: { guardHash: (n) => hashes.get(n), guards: () => [...hashes.keys()].map((name) => ({ name })) },
    dataDir: '/var/lib/passgate',
    allowedHosts: ['gate-east.hospital.example'],
    bus,
    now: () => performance.now() + clock,
    ...(o.kiosk ? { kiosk: { guard: 'wang', token: 'k'.repeat(40) } } : {}),
    ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}),
  });
  base = consoleServer.url;
}

function hold(over: Parameters<typeof decision>[0] = {}): string {
  const before = new Set(gate.holds().map((h) => h.id));
  gate.actOn(decision({ result: 'staff', reason: 'STATUS_YELLOW', input: 'qr', format: 'HP1', issuer: 'CN-330000', seq: 42, displayName: '王小明', ...over }));
  return gate.holds().find((h) => !before.has(h.id))!.id;
}

/** A raw request with any Host header (fetch will not send a foreign one). */
function raw(method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => resolve({ status: r.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeEach(async () => setup());
afterEach(async () => {
  gate.stop();
  await consoleServer.close();
});

describe('guard console: who may do what', () => {
  it('refuses everything without a signed-in guard, with nothing changed', async () => {
    const id = hold();
    expect((await fetch(`${base}/holds`)).status).toBe(401);
    expect((await fetch(`${base}/holds/${id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ actor: 'guard:wang' }) })).status).toBe(401);
    expect((await fetch(`${base}/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"x"}' })).status).toBe(401);
    const page = await fetch(`${base}/`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login');
    expect(events).toEqual([]);
    expect(calls.filter((c) => c === 'relay:active')).toEqual([]);
    expect(gate.holds()).toHaveLength(1);
  });

  it('sign in sets an HttpOnly SameSite=Strict session cookie; the override actor is the signed-in guard, never the request', async () => {
    const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'wang', password: PASSWORD }) });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pg_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict$/);
    const guard = await signIn(base, 'wang', PASSWORD);
    const id = hold();
    const approved = await guard.post(`/holds/${id}/approve`, { actor: 'guard:mallory', reason: 'ID checked in person', note: 'visitor' });
    expect(approved.status).toBe(200);
    expect(events[0]).toMatchObject({ type: 'override', reason: 'GUARD_APPROVED', actor: 'guard:wang', note: 'ID checked in person: visitor', ref: 42 });
    expect(calls.indexOf('event:override')).toBeLessThan(calls.indexOf('relay:active'));
  });

  it('a state-changing request needs the CSRF token and a same-origin Origin', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    const id = hold();
    const cookie = (await (await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'wang', password: PASSWORD }) })).headers.get('set-cookie'))!.split(';')[0]!;
    const noToken = await fetch(`${base}/holds/${id}/approve`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
    expect(noToken.status).toBe(403);
    const wrongToken = await fetch(`${base}/holds/${id}/approve`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': 'x'.repeat(32) }, body: '{}' });
    expect(wrongToken.status).toBe(403);
    const foreign = await raw('POST', `/holds/${id}/approve`, { cookie, 'content-type': 'application/json', origin: 'http://evil.example', host: new URL(base).host }, '{}');
    expect(foreign.status).toBe(403);
    expect(events).toEqual([]);
    expect(gate.holds()).toHaveLength(1);
    expect((await guard.post(`/holds/${id}/deny`, { reason: 'Refused to show ID' })).status).toBe(200);
    expect(events).toEqual([expect.objectContaining({ type: 'override', reason: 'GUARD_DENIED', actor: 'guard:wang', note: 'Refused to show ID' })]);
    expect(calls.filter((c) => c === 'relay:active')).toEqual([]);
  });

  it('a foreign Host is refused before anything else, even with a matching Origin and a valid session (DNS rebinding)', async () => {
    await signIn(base, 'wang', PASSWORD);
    const id = hold();
    const res = await raw('POST', `/holds/${id}/approve`, { host: 'rebind.attacker.example:8088', origin: 'http://rebind.attacker.example:8088', 'content-type': 'application/json' }, '{"actor":"guard:x"}');
    expect(res.status).toBe(421);
    expect((await raw('GET', '/login', { host: 'rebind.attacker.example' })).status).toBe(421);
    expect((await raw('GET', '/app.js', { host: 'evil' })).status).toBe(421);
    expect(consoleServer.stats().refusedHost).toBe(3);
    // The configured name and loopback are allowed.
    expect((await raw('GET', '/login', { host: 'gate-east.hospital.example:8088' })).status).toBe(200);
    expect((await raw('GET', '/login', { host: 'localhost' })).status).toBe(200);
    expect(events).toEqual([]);
    expect(gate.holds().map((h) => h.id)).toEqual([id]);
  });

  it('five wrong passwords lock the account out (then with back-off), even with the right password', async () => {
    const wrong = () => fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'wang', password: 'wrong-password' }) });
    for (let i = 0; i < 4; i++) expect((await wrong()).status).toBe(401);
    const fifth = await wrong();
    expect(fifth.status).toBe(429);
    expect(await fifth.json()).toMatchObject({ ok: false, error: 'LOCKED_OUT', retryAfterSeconds: 30 });
    await expect(signIn(base, 'wang', PASSWORD)).rejects.toThrow(/LOCKED_OUT/);
    clock += 31_000;
    // One more failure after the lock: twice as long.
    const sixth = await wrong();
    expect(await sixth.json()).toMatchObject({ error: 'LOCKED_OUT', retryAfterSeconds: 60 });
    clock += 61_000;
    await expect(signIn(base, 'wang', PASSWORD)).resolves.toBeTruthy();
  });

  it('a session idles out', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    expect((await guard.get('/holds')).status).toBe(200);
    clock += 16 * 60_000;
    expect((await guard.get('/holds')).status).toBe(401);
  });

  it('log out ends the session', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    expect((await guard.post('/logout', {})).status).toBe(200);
    expect((await guard.get('/holds')).status).toBe(401);
  });

  it('manual open needs a reason and is recorded with the guard before the relay moves', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    expect((await guard.post('/open', {})).status).toBe(400);
    expect(events).toEqual([]);
    const res = await guard.post('/open', { reason: 'Stretcher / emergency' });
    expect(res.status).toBe(200);
    expect(events).toEqual([expect.objectContaining({ type: 'override', actor: 'guard:wang', note: 'Stretcher / emergency', manual: true })]);
    expect(calls.indexOf('event:override')).toBeLessThan(calls.indexOf('relay:active'));
  });

  it('lists held passes with the name masked by the display rule, nothing else personal', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    hold({ displayName: '张*110105194912310021' });
    hold({ displayName: 'A\u202eB\u0000C' });
    const { holds } = (await (await guard.get('/holds')).json()) as { holds: Record<string, unknown>[] };
    expect(holds.map((h) => h.maskedName)).toEqual(['张***', 'A**']);
    for (const h of holds) expect(Object.keys(h).sort()).toEqual(['ageMs', 'expiresInMs', 'format', 'id', 'input', 'issuer', 'maskedName', 'reason']);
    const page = await (await guard.get('/')).text();
    expect(page).not.toContain('110105');
    expect(page).toContain('张***');
  });

  it('escapes what it shows', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    hold({ displayName: '<script>' });
    const page = await (await guard.get('/')).text();
    expect(page).not.toContain('<script>*');
    expect(page).toContain('&lt;***');
  });
});

describe('guard console: no account, kiosk, language', () => {
  it('with no guard account the console says how to create one and allows nothing', async () => {
    await consoleServer.close();
    await setup({ accounts: false });
    const id = hold();
    const page = await (await fetch(`${base}/`, { headers: { 'accept-language': 'en' } })).text();
    expect(page).toContain('passgate guard add --data-dir /var/lib/passgate NAME');
    expect((await fetch(`${base}/holds`)).status).toBe(403);
    const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'wang', password: PASSWORD }) });
    expect(login.status).toBe(403);
    expect(events).toEqual([]);
    expect(gate.holds().map((h) => h.id)).toEqual([id]);
  });

  it('the kiosk URL signs in from loopback with the right token only', async () => {
    await consoleServer.close();
    await setup({ kiosk: true });
    expect((await fetch(`${base}/kiosk/${'x'.repeat(40)}`, { redirect: 'manual' })).status).toBe(404);
    const ok = await fetch(`${base}/kiosk/${'k'.repeat(40)}`, { redirect: 'manual' });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${base}/holds`, { headers: { cookie } })).status).toBe(200);
    clock += 60 * 60_000; // the gate's own screen does not idle out
    expect((await fetch(`${base}/holds`, { headers: { cookie } })).status).toBe(200);
  });

  it('speaks zh-CN when the browser prefers it, en otherwise; the switch sets a cookie', async () => {
    expect(pickLang(undefined, 'zh-CN,zh;q=0.9,en;q=0.8')).toBe('zh-CN');
    expect(pickLang(undefined, 'en-US,en;q=0.9,zh;q=0.5')).toBe('en');
    expect(pickLang(undefined, 'fr, zh-TW;q=0.5')).toBe('zh-CN');
    expect(pickLang('en', 'zh-CN')).toBe('en');
    expect(await (await fetch(`${base}/login`, { headers: { 'accept-language': 'zh-CN' } })).text()).toContain('登录');
    expect(await (await fetch(`${base}/login`, { headers: { 'accept-language': 'en' } })).text()).toContain('Sign in');
    const sw = await fetch(`${base}/lang?to=en&back=/login`, { redirect: 'manual' });
    expect(sw.headers.get('set-cookie')).toMatch(/^lang=en;/);
    expect(sw.headers.get('location')).toBe('/login');
  });

  it('live decisions arrive over server-sent events with masked names', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    const res = await guard.get('/events');
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (want: string) =>
      waitFor(
        async () => {
          const { value } = await reader.read();
          text += new TextDecoder().decode(value);
          return text.includes(want);
        },
        { what: want },
      );
    await readUntil('event: view');
    const event: GateEvent = {
      ...{ id: 'x', tsMs: Date.now(), monoMs: 0, clockTrusted: true, type: 'decision', input: 'qr', handle: null, status: 3, latencyUs: 900 },
      ...{ result: 'deny', reason: 'STATUS_RED', format: 'HP1', issuer: 'CN-330000', versions: { trust: 1, policy: 1, tokens: 1, holders: 1 } },
    };
    bus.emit('eventRecorded', { seq: 9, event, displayName: '欧阳修文' });
    await readUntil('欧***');
    expect(text).not.toContain('欧阳');
    expect(text).toContain('浙江省');
    await reader.cancel();
  });
});

describe('guard console: TLS', () => {
  it('serves HTTPS from the configured certificate; the session cookie is then Secure and __Host-', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passgate-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const cert = readFileSync(join(dir, 'cert.pem'));
      const tls = await startGuardConsole({
        host: '127.0.0.1',
        port: 0,
        gate: { holds: () => [], decide: () => ({ ok: false, error: 'NO_SUCH_HOLD' }), manualOpen: () => ({ ok: false, error: 'NOT_RUNNING' }), status: () => status() },
        accounts: { guardHash: (n) => hashes.get(n), guards: () => [...hashes.keys()].map((name) => ({ name })) },
        dataDir: '/var/lib/passgate',
        tls: { cert, key: readFileSync(join(dir, 'key.pem')) },
      });
      try {
        expect(tls.url).toMatch(/^https:/);
        const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
          const body = JSON.stringify({ name: 'wang', password: PASSWORD });
          const req = httpsRequest(
            { host: '127.0.0.1', port: tls.port, path: '/login', method: 'POST', servername: 'localhost', ca: cert, headers: { host: `localhost:${tls.port}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
            (r) => {
              r.resume();
              resolve({ status: r.statusCode!, cookie: String(r.headers['set-cookie'] ?? '') });
            },
          );
          req.on('error', reject);
          req.end(body);
        });
        expect(res.status).toBe(200);
        expect(res.cookie).toMatch(/^__Host-pg_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('guard console: limits', () => {
  it('idle connections beyond the limit evict each other, never a signed-in guard', async () => {
    await consoleServer.close();
    await setup({ maxConnections: 8 });
    const guard = await signIn(base, 'wang', PASSWORD);
    const stream = await guard.get('/events'); // a signed-in guard's connection, held open
    const sockets = Array.from({ length: 40 }, () => connect(consoleServer.port, '127.0.0.1').on('error', () => {}));
    await waitFor(() => consoleServer.stats().evicted >= 30, { what: 'idle connections evicted' });
    expect(consoleServer.stats().connections).toBeLessThanOrEqual(8);
    // The guard still gets answers.
    expect((await guard.get('/holds')).status).toBe(200);
    for (const s of sockets) s.destroy();
    await stream.body!.cancel();
  });

  it('a body over 4 KiB is refused', async () => {
    const guard = await signIn(base, 'wang', PASSWORD);
    const res = await guard.post('/open', { reason: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect(events).toEqual([]);
  });
});

describe('guard console: parts', () => {
  it('hostName takes the name from a Host header', () => {
    expect(hostName('LocalHost:8088')).toBe('localhost');
    expect(hostName('[::1]:8088')).toBe('::1');
    expect(hostName('a b')).toBeNull();
    expect(hostName(undefined)).toBeNull();
  });

  it('passwords are stored as salted scrypt hashes', async () => {
    const a = await hashPassword('same password');
    const b = await hashPassword('same password');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('same password');
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('other password', a)).toBe(false);
    expect(await verifyPassword('same password', 'garbage')).toBe(false);
  });

  it('sessions and lock-out are bounded in time', () => {
    let t = 0;
    const book = new SessionBook(1000, () => t);
    const s = book.open('wang');
    t = 900;
    expect(book.find(s.id, true)).not.toBeNull();
    t = 1800;
    expect(book.find(s.id, false)).not.toBeNull();
    t = 2000;
    expect(book.find(s.id, false)).toBeNull();
    const lock = new Lockout(() => t);
    for (let i = 0; i < 4; i++) expect(lock.failed('wang', '10.0.0.9')).toBe(0);
    expect(lock.failed('wang', '10.0.0.9')).toBe(30_000);
    // The client address is locked for any account, the account from any client.
    expect(lock.lockedFor('li', '10.0.0.9')).toBe(30_000);
    expect(lock.lockedFor('wang', '10.0.0.7')).toBe(30_000);
  });

  it('status is red when something needs a person', () => {
    const now = Date.now();
    expect(statusHtml(status(), 'en').needsPerson).toBe(false);
    expect(statusHtml(status({ clockTrusted: false }), 'en').needsPerson).toBe(true);
    expect(statusHtml(status({ lists: { tokens: { version: 1, updatedAtMs: now - 2 * 86_400_000 }, holders: { version: 1, updatedAtMs: now } } }), 'zh-CN').html).toContain('离线数据已过期');
    expect(statusHtml(status({ parts: [{ name: 'idreader', ok: false, detail: 'reconnecting' }] }), 'zh-CN').html).toContain('身份证阅读器');
    expect(statusHtml(status(), 'en').html).toContain('offline-ready until');
  });
});
