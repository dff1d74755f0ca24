/**
 * The guard console: held passes with approve/deny, live decisions, gate status and manual open, for
 * a guard signed in with an account kept on the gate (`passgate guard add`). Served by fastify on
 * node's http (or https when a certificate is configured).
 *
 * Order of refusal, cheapest first, before any body is read:
 *   1. a `Host` that is not an allowed name (listen address, localhost, loopback, configured names):
 *      421, nothing else looked at — a DNS-rebinding page cannot reach the console through its name;
 *   2. no guard account on the gate: nothing is allowed (the page says how to create one);
 *   3. no live session (HttpOnly, SameSite=Strict cookie; Secure under TLS; idle expiry): 401 / sign-in;
 *   4. a state-changing request whose Origin is foreign or whose CSRF token is wrong: 403.
 * The audit `actor` of every override is `guard:<signed-in name>`; nothing in a request can set it.
 *
 * Hostile connections cannot starve the gate: at most `maxConnections` sockets (server.maxConnections
 * is the hard stop behind it); when full, a new connection evicts the oldest one that never proved a
 * signed-in guard, so slow or idle sockets cannot crowd the guard out. Headers must arrive within
 * 5 s, a whole request within 10 s (checked every second), idle keep-alive ends after 5 s, bodies
 * are at most 4 KiB, and at most two password checks (scrypt, on the thread pool) run at once.
 *
 * Every decision becomes an `override` event in the outbox BEFORE the relay moves (the controller
 * commits it as the step's first effect and discards the step if it cannot; a manual open is
 * recorded before the gate is asked to pulse).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { displayName } from '../../base/display.js';
import type { EventBus } from '../bus.js';
import type { GuardPort, GuardResult } from './controller.js';
import { decoyHash, verifyPassword, type GuardAccountStore } from './guard-accounts.js';
import { Lockout, SessionBook, sameToken, type Session } from './console-auth.js';
import { pickLang, TEXTS, type Lang } from './console-text.js';
import { heldHtml, liveHtml, statusHtml, type ConsoleStatus, type LiveLine } from './console-view.js';
import { consolePage, CSS, loginPage, noAccountPage, SCRIPT } from './console-page.js';

export type { ConsoleStatus } from './console-view.js';

/** What the console needs from the gate. */
export interface ConsoleGate extends GuardPort {
  /** Records an `override` (result open, manual) with the guard and note, then pulses the relay. */
  manualOpen(actor: string, note: string): GuardResult;
  status(): ConsoleStatus;
}

export interface GuardConsoleOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  gate: ConsoleGate;
  accounts: GuardAccountStore;
  /** Shown in the "create an account" hint. */
  dataDir: string;
  /** Further names the console may be reached by (`Host`), besides the listen address and localhost. */
  allowedHosts?: readonly string[];
  tls?: { cert: Buffer | string; key: Buffer | string };
  idleMinutes?: number;
  maxConnections?: number;
  /** The gate's own screen: `GET /kiosk/<token>` from loopback signs in as `guard`. */
  kiosk?: { guard: string; token: string } | null;
  /** Live decisions and gate changes. */
  bus?: EventBus;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Monotonic ms (sessions, lock-out). */
  now?: () => number;
}

export interface GuardConsole {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Counters for tests and metrics. */
  stats(): { refusedHost: number; evicted: number; refusedConnections: number; connections: number; streams: number };
  close(): Promise<void>;
}

/** A guard's name as it goes into the outbox. */
export const ACTOR_PATTERN = /^[A-Za-z0-9._:@-]{1,64}$/;
const MAX_BODY = 4096;
const MAX_NOTE = 200;
const MAX_STREAMS = 16;
const MAX_LIVE = 50;
const MAX_LOGINS_IN_FLIGHT = 2;

declare module 'fastify' {
  interface FastifyRequest {
    session: Session | null;
    lang: Lang;
  }
}

interface Stream {
  res: ServerResponse;
  session: Session;
  lang: Lang;
  sent: Record<string, string>;
}

export async function startGuardConsole(o: GuardConsoleOptions): Promise<GuardConsole> {
  const now = o.now ?? (() => performance.now());
  const secure = o.tls !== undefined;
  const cookieName = secure ? '__Host-pg_session' : 'pg_session';
  const sessions = new SessionBook((o.idleMinutes ?? 15) * 60_000, now);
  const lockout = new Lockout(now);
  const soft = o.maxConnections ?? 128;
  const counters = { refusedHost: 0, evicted: 0, refusedConnections: 0 };
  const live: LiveLine[] = [];
  const streams = new Set<Stream>();
  let loginsInFlight = 0;
  let lastHostLog = 0;

  // --- the HTTP server and its limits -------------------------------------------------------------
  let server!: Server;
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: MAX_BODY,
    routerOptions: { maxParamLength: 100 },
    return503OnClosing: true,
    forceCloseConnections: true,
    serverFactory: (handler) => {
      const limits = { connectionsCheckingInterval: 1000, headersTimeout: 5000, requestTimeout: 10_000, keepAliveTimeout: 5000, maxHeaderSize: 8192, requireHostHeader: true };
      server = o.tls
        ? (createHttpsServer({ ...limits, cert: o.tls.cert, key: o.tls.key, handshakeTimeout: 5000 }, handler) as unknown as Server)
        : createHttpServer(limits, handler);
      server.maxConnections = soft + 16; // the hard stop behind the eviction below
      server.setTimeout(30_000); // a socket silent this long goes (a live stream sends a heartbeat)
      return server;
    },
  });

  const sockets = new Set<Socket>();
  const proven = new WeakSet<Socket>();
  const rawOf = (s: Socket) => ((s as Socket & { _parent?: Socket })._parent ?? s);
  server.on('connection', (sock: Socket) => {
    if (sockets.size >= soft) {
      for (const s of sockets) {
        if (proven.has(s)) continue;
        sockets.delete(s);
        s.destroy();
        counters.evicted++;
        break;
      }
    }
    if (sockets.size >= soft) {
      counters.refusedConnections++;
      sock.destroy();
      return;
    }
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    sock.on('error', () => {}); // a reset by the peer is not our error
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_BODY }, (_req, body, done) => {
    done(null, parseQuery(body as string));
  });
  app.decorateRequest('session', null);
  app.decorateRequest('lang', 'en');

  // --- 1. Host, before anything else --------------------------------------------------------------
  const allowed = new Set(['localhost', '127.0.0.1', '::1', o.host.toLowerCase(), ...(o.allowedHosts ?? []).map((h) => h.toLowerCase())]);
  app.addHook('onRequest', async (req, reply) => {
    const name = hostName(req.headers.host);
    if (name === null || !allowed.has(name)) {
      counters.refusedHost++;
      if (now() - lastHostLog > 10_000) {
        lastHostLog = now();
        o.log?.warn({ host: String(req.headers.host ?? '').slice(0, 80), refused: counters.refusedHost }, 'guard console refused a request for a foreign Host');
      }
      reply.code(421).header('connection', 'close').type('text/plain; charset=utf-8').send('refused: this console does not answer to that name\n');
      return reply;
    }
    reply.headers(SECURITY_HEADERS);
    const cookies = parseCookies(req.headers.cookie);
    req.lang = pickLang(cookies.lang, req.headers['accept-language']);
    const path = req.url.split('?')[0]!;
    const isPublic = PUBLIC.has(`${req.method} ${path}`) || (req.method === 'GET' && path.startsWith('/kiosk/'));
    // A stream's own traffic does not count as the guard being active.
    req.session = sessions.find(cookies[cookieName], path !== '/events');
    if (req.session) proven.add(rawOf(req.socket));
    if (isPublic) return;
    if (!hasAccounts()) return void reply.code(403).send({ ok: false, error: 'NO_GUARD_ACCOUNT' });
    if (!req.session) {
      if (req.method === 'GET' && path === '/') return void reply.redirect('/login', 303);
      return void reply.code(401).send({ ok: false, error: 'NOT_SIGNED_IN' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req, secure)) return void reply.code(403).send({ ok: false, error: 'FOREIGN_ORIGIN' });
  });

  // --- 4. CSRF, once the (small) body is read -----------------------------------------------------
  const csrfOk = (req: FastifyRequest) => {
    const token = (req.headers['x-csrf-token'] as string | undefined) ?? (req.body as { csrf?: unknown } | undefined)?.csrf;
    return req.session !== null && sameToken(typeof token === 'string' ? token : undefined, req.session.csrf);
  };

  const hasAccounts = () => o.accounts.guards().length > 0;
  const actorOf = (s: Session) => `guard:${s.guard}`;

  // --- pages --------------------------------------------------------------------------------------
  app.get('/app.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(CSS));
  app.get('/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(SCRIPT));
  app.get('/health', async () => ({ ok: true }));

  app.get('/', async (req, reply) => {
    if (!hasAccounts()) return html(reply, noAccountPage(req.lang, o.dataDir));
    if (!req.session) return reply.redirect('/login', 303);
    const v = render(req.lang);
    return html(reply, consolePage({ lang: req.lang, guard: req.session.guard, csrf: req.session.csrf, ...v }));
  });

  app.get('/login', async (req, reply) => {
    if (!hasAccounts() || req.session) return reply.redirect('/', 303);
    return html(reply, loginPage(req.lang));
  });

  app.post('/login', async (req, reply) => {
    const json = isJson(req);
    const lang = req.lang;
    const t = TEXTS[lang];
    if (!hasAccounts()) return reply.code(403).send({ ok: false, error: 'NO_GUARD_ACCOUNT' });
    if (!sameOrigin(req, secure)) return reply.code(403).send({ ok: false, error: 'FOREIGN_ORIGIN' });
    const body = (req.body ?? {}) as Record<string, unknown>;
    const name = typeof body.name === 'string' ? body.name.trim().toLowerCase().slice(0, 32) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 256) : '';
    const client = rawOf(req.socket).remoteAddress ?? '?';
    const refuse = (status: number, error: string, page: string, extra: object = {}) =>
      json ? reply.code(status).send({ ok: false, error, ...extra }) : html(reply.code(status), page);

    const locked = lockout.lockedFor(name, client);
    if (locked > 0) {
      const s = Math.ceil(locked / 1000);
      return refuse(429, 'LOCKED_OUT', loginPage(lang, { lockedSeconds: s, name }), { retryAfterSeconds: s });
    }
    if (loginsInFlight >= MAX_LOGINS_IN_FLIGHT) return refuse(503, 'BUSY', loginPage(lang, { error: t.busy, name }));
    loginsInFlight++;
    let ok = false;
    try {
      const stored = name ? o.accounts.guardHash(name) : undefined;
      // The same work whether or not the account exists.
      ok = (await verifyPassword(password, stored ?? (await decoyHash()))) && stored !== undefined;
    } finally {
      loginsInFlight--;
    }
    if (!ok) {
      const lock = lockout.failed(name, client);
      o.log?.warn({ guard: name || null, client, locked: lock > 0 }, 'guard sign-in failed');
      o.bus?.emit('guardSignIn', { ok: false });
      if (lock > 0) {
        const s = Math.ceil(lock / 1000);
        return refuse(429, 'LOCKED_OUT', loginPage(lang, { lockedSeconds: s, name }), { retryAfterSeconds: s });
      }
      return refuse(401, 'WRONG_PASSWORD', loginPage(lang, { error: t.wrongPassword, name }));
    }
    lockout.succeeded(name, client);
    const session = sessions.open(name);
    proven.add(rawOf(req.socket));
    o.log?.info({ guard: name, client }, 'guard signed in');
    o.bus?.emit('guardSignIn', { ok: true, guard: name, kiosk: false });
    reply.header('set-cookie', sessionCookie(cookieName, session.id, secure));
    return json ? reply.send({ ok: true, guard: name, csrf: session.csrf }) : reply.redirect('/', 303);
  });

  app.get('/kiosk/:token', async (req, reply) => {
    const k = o.kiosk;
    const token = (req.params as { token: string }).token;
    const peer = rawOf(req.socket).remoteAddress ?? '';
    if (!k || !isLoopbackAddress(peer) || !sameToken(token, k.token) || o.accounts.guardHash(k.guard) === undefined) {
      return reply.code(404).send({ ok: false, error: 'NOT_FOUND' });
    }
    const session = sessions.open(k.guard, true);
    o.log?.info({ guard: k.guard }, 'kiosk signed in');
    o.bus?.emit('guardSignIn', { ok: true, guard: k.guard, kiosk: true });
    reply.header('set-cookie', sessionCookie(cookieName, session.id, secure));
    return reply.redirect('/', 303);
  });

  app.post('/logout', async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send({ ok: false, error: 'BAD_CSRF' });
    sessions.close(req.session!.id);
    o.log?.info({ guard: req.session!.guard }, 'guard signed out');
    reply.header('set-cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`);
    return isJson(req) ? reply.send({ ok: true }) : reply.redirect('/login', 303);
  });

  app.get('/lang', async (req, reply) => {
    const q = req.query as { to?: string; back?: string };
    const to: Lang = q.to === 'en' ? 'en' : 'zh-CN';
    const back = q.back === '/login' ? '/login' : '/';
    reply.header('set-cookie', `lang=${to}; Path=/; SameSite=Strict; Max-Age=31536000${secure ? '; Secure' : ''}`);
    return reply.redirect(back, 303);
  });

  // --- the guard's API (signed in) -----------------------------------------------------------------
  app.get('/holds', async () => ({ holds: o.gate.holds().map(holdJson) }));
  app.get('/api/view', async () => ({ holds: o.gate.holds().map(holdJson), live, status: o.gate.status() }));

  app.post('/holds/:id/:decision', async (req, reply) => {
    const { id, decision } = req.params as { id: string; decision: string };
    if (decision !== 'approve' && decision !== 'deny') return reply.code(404).send({ ok: false, error: 'NOT_FOUND' });
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return reply.code(404).send({ ok: false, error: 'NO_SUCH_HOLD' });
    if (!csrfOk(req)) return reply.code(403).send({ ok: false, error: 'BAD_CSRF' });
    const note = noteOf(req.body);
    const actor = actorOf(req.session!);
    const result = o.gate.decide(id, decision, actor, note ?? undefined);
    o.log?.info({ hold: id, decision, actor, ok: result.ok, ...(result.ok ? { seq: result.seq } : { error: result.error }) }, 'guard decision');
    schedule();
    return resultReply(reply, result);
  });

  app.post('/open', async (req, reply) => {
    if (!csrfOk(req)) return reply.code(403).send({ ok: false, error: 'BAD_CSRF' });
    const note = noteOf(req.body);
    if (note === null) return reply.code(400).send({ ok: false, error: 'REASON_REQUIRED' });
    const actor = actorOf(req.session!);
    const result = o.gate.manualOpen(actor, note);
    o.log?.info({ actor, ok: result.ok, ...(result.ok ? { seq: result.seq } : { error: result.error }) }, 'guard manual open');
    schedule();
    return resultReply(reply, result);
  });

  app.get('/events', (req, reply) => {
    if (streams.size >= MAX_STREAMS || [...streams].filter((s) => s.session === req.session).length >= 3) {
      return reply.code(503).send({ ok: false, error: 'TOO_MANY_STREAMS' });
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    const stream: Stream = { res, session: req.session!, lang: req.lang, sent: {} };
    streams.add(stream);
    res.on('close', () => streams.delete(stream));
    send(stream, render(stream.lang));
    ensureTimer();
  });

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ ok: false, error: 'NOT_FOUND' }));
  app.setErrorHandler(async (err: { statusCode?: number; code?: string; message?: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) o.log?.warn({ err: err.message, code: err.code }, 'guard console request failed');
    return reply.code(status).send({ ok: false, error: status === 413 ? 'TOO_LARGE' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL' });
  });

  // --- live view -----------------------------------------------------------------------------------
  const owner = {};
  o.bus?.on('eventRecorded', owner, ({ seq, event, displayName }) => {
    if (event.type !== 'decision' && event.type !== 'override') return;
    live.push({
      seq,
      tsMs: event.tsMs,
      type: event.type,
      result: String(event.result ?? ''),
      reason: String(event.reason ?? ''),
      name: displayName ?? null,
      format: (event.format as string | null) ?? null,
      issuer: (event.issuer as string | null) ?? null,
      actor: event.type === 'override' ? event.actor : null,
    });
    if (live.length > MAX_LIVE) live.splice(0, live.length - MAX_LIVE);
    schedule();
  });
  o.bus?.on('gateChanged', owner, () => schedule());

  function render(lang: Lang) {
    const status = o.gate.status();
    const holds = o.gate.holds();
    const st = statusHtml(status, lang);
    return { held: heldHtml(holds, status, lang), heldCount: holds.length, live: liveHtml(live, status, lang), status: st.html, needsPerson: st.needsPerson };
  }

  function send(s: Stream, v: ReturnType<typeof render>) {
    const changed: Record<string, unknown> = {};
    for (const k of ['held', 'live', 'status'] as const) {
      if (s.sent[k] !== v[k]) {
        changed[k] = v[k];
        s.sent[k] = v[k];
      }
    }
    if ('held' in changed) changed.heldCount = v.heldCount;
    if ('status' in changed) changed.needsPerson = v.needsPerson;
    if (Object.keys(changed).length > 0) s.res.write(`event: view\ndata: ${JSON.stringify(changed)}\n\n`);
  }

  let pending = false;
  function schedule() {
    if (pending || streams.size === 0) return;
    pending = true;
    setImmediate(broadcast);
  }
  function broadcast() {
    pending = false;
    const byLang = new Map<Lang, ReturnType<typeof render>>();
    for (const s of streams) {
      // A session that idled out or signed out ends its stream.
      if (sessions.find(s.session.id, false) === null) {
        s.res.end('event: signedout\ndata: {}\n\n');
        streams.delete(s);
        continue;
      }
      if (!byLang.has(s.lang)) byLang.set(s.lang, render(s.lang));
      send(s, byLang.get(s.lang)!);
    }
  }
  let timer: NodeJS.Timeout | null = null;
  let beats = 0;
  function ensureTimer() {
    if (timer) return;
    timer = setInterval(() => {
      if (streams.size === 0) {
        clearInterval(timer!);
        timer = null;
        return;
      }
      broadcast();
      if (++beats % 15 === 0) for (const s of streams) s.res.write(': keep-alive\n\n');
    }, 1000);
    timer.unref();
  }

  await app.listen({ host: o.host, port: o.port });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${secure ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  o.log?.info({ host: addr.address, port: addr.port, tls: secure, accounts: o.accounts.guards().length }, 'guard console listening');
  if (!hasAccounts()) o.log?.warn({ dataDir: o.dataDir }, 'no guard account: the console allows nothing until `passgate guard add` creates one');

  return {
    host: addr.address,
    port: addr.port,
    url,
    stats: () => ({ ...counters, connections: sockets.size, streams: streams.size }),
    close: async () => {
      o.bus?.removeListeners(owner);
      if (timer) clearInterval(timer);
      for (const s of streams) s.res.destroy();
      streams.clear();
      await app.close();
    },
  };
}

// --- helpers -----------------------------------------------------------------------------------------

const PUBLIC = new Set(['GET /', 'GET /favicon.ico', 'GET /login', 'POST /login', 'GET /app.css', 'GET /app.js', 'GET /health', 'GET /lang', 'HEAD /']);

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin', // not no-referrer: with it, Chromium sends `Origin: null` on a form post
};

function html(reply: FastifyReply, page: string) {
  return reply.type('text/html; charset=utf-8').send(page);
}

function isJson(req: FastifyRequest): boolean {
  return String(req.headers['content-type'] ?? '').startsWith('application/json');
}

/** The name part of a Host header, lower-cased; null when malformed. */
export function hostName(host: string | undefined): string | null {
  if (!host || host.length > 255) return null;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(host.trim());
  if (!m) return null;
  return (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
}

function sameOrigin(req: FastifyRequest, secure: boolean): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // scripts and curl; the cookie is SameSite=Strict and the CSRF token is required anyway
  return origin === `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function sessionCookie(name: string, id: string, secure: boolean): string {
  return `${name}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function isLoopbackAddress(addr: string): boolean {
  return addr === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(addr);
}

/** The guard's reason: pick + free text, printable, at most 200 characters; null when both are empty. */
function noteOf(body: unknown): string | null {
  const b = (body ?? {}) as Record<string, unknown>;
  const clean = (v: unknown) => (typeof v === 'string' ? v.replace(/[\p{Cc}\p{Cf}]/gu, ' ').replace(/\s+/g, ' ').trim() : '');
  const text = [clean(b.reason), clean(b.note)].filter(Boolean).join(': ');
  return text ? Array.from(text).slice(0, MAX_NOTE).join('') : null;
}

function holdJson(h: ReturnType<GuardPort['holds']>[number]) {
  return {
    id: h.id,
    maskedName: displayName(h.maskedName),
    reason: h.reason,
    input: h.input,
    format: h.format,
    issuer: h.issuer,
    ageMs: Math.round(h.ageMs),
    expiresInMs: Math.round(h.expiresInMs),
  };
}


function resultReply(reply: FastifyReply, result: GuardResult) {
  if (result.ok) return reply.send({ ok: true, outcome: result.outcome.kind, seq: result.seq });
  const status = result.error === 'NO_SUCH_HOLD' ? 404 : result.error === 'NOT_RECORDED' ? 503 : 409;
  return reply.code(status).send({ ok: false, error: result.error });
}
