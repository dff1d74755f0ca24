/**
 * The guard's hook: a tiny HTTP server (node:http, loopback by default) that lists the passes held
 * for a guard and takes their decisions.
 *
 *   GET  /?actor=guard:wang     minimal HTML page: the held passes with approve/deny buttons, refreshing
 *                               every 3 s; the actor rides in the URL so a refresh never eats typing
 *   GET  /holds                 {"holds": [{id, maskedName, reason, input, format, issuer, ageMs, expiresInMs}]}
 *   POST /holds/{id}/approve    body {"actor": "guard:wang"} (JSON) or actor=… (form)
 *   POST /holds/{id}/deny       same
 *   GET  /health                {"ok": true}
 *
 * Replies to a decision: 200 {"ok": true, "outcome": …, "seq": n}; 400 BAD_ACTOR; 404 NO_SUCH_HOLD;
 * 409 BUSY / NOT_RUNNING; 503 NOT_RECORDED (the override event could not be committed, so nothing
 * moved). A form post is answered with 303 to `/` instead.
 *
 * Every decision becomes an `override` event in the outbox BEFORE the relay moves: the gate
 * controller commits it as the step's first effect and discards the step if it cannot.
 *
 * Personal data: the page shows a masked name (re-masked here if it arrives unmasked), the reason,
 * the format and the issuer — never an ID number, never scanned text; the gate never hands them over.
 *
 * No authentication: the console is for a guard at the gate's own screen, so it listens on loopback.
 * Binding it elsewhere exposes approvals to the network (service.ts logs a warning). Against a
 * hostile web page in the guard's browser, a POST whose Origin is not this server is refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { displayName } from '../../base/display.js';
import type { GuardPort, GuardResult, HoldView } from './controller.js';

export interface GuardConsoleOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  gate: GuardPort;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface GuardConsole {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A guard's name as it goes into the outbox: short, printable, no spaces. */
export const ACTOR_PATTERN = /^[A-Za-z0-9._:@-]{1,64}$/;
const MAX_BODY = 4096;

export async function startGuardConsole(o: GuardConsoleOptions): Promise<GuardConsole> {
  const server = createServer((req, res) => {
    route(o, req, res).catch((err: unknown) => {
      o.log?.warn({ err }, 'guard console request failed');
      if (!res.headersSent) send(res, 500, { ok: false, error: 'INTERNAL' });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  o.log?.info({ host: addr.address, port: addr.port }, 'guard console listening');
  return { host: addr.address, port: addr.port, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

async function route(o: GuardConsoleOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://console.invalid');
  const path = url.pathname;
  const m = /^\/holds\/([A-Za-z0-9_-]{1,64})\/(approve|deny)$/.exec(path);
  if (m && req.method !== 'POST') return send(res, 405, { ok: false, error: 'METHOD_NOT_ALLOWED' });
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (path === '/') {
      const actor = url.searchParams.get('actor');
      return sendHtml(res, page(o.gate.holds(), actor !== null && ACTOR_PATTERN.test(actor) ? actor : null));
    }
    if (path === '/holds') return send(res, 200, { holds: o.gate.holds().map(view) });
    if (path === '/health') return send(res, 200, { ok: true });
    return send(res, 404, { ok: false, error: 'NOT_FOUND' });
  }
  if (req.method !== 'POST') return send(res, 405, { ok: false, error: 'METHOD_NOT_ALLOWED' });
  if (!m) return send(res, 404, { ok: false, error: 'NOT_FOUND' });
  if (!sameOrigin(req)) return send(res, 403, { ok: false, error: 'FOREIGN_ORIGIN' });

  const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  let actor: unknown;
  try {
    const body = await readBody(req);
    actor = form ? new URLSearchParams(body).get('actor') : body.trim() === '' ? undefined : (JSON.parse(body) as { actor?: unknown }).actor;
  } catch {
    return send(res, 400, { ok: false, error: 'BAD_REQUEST' });
  }
  if (typeof actor !== 'string' || !ACTOR_PATTERN.test(actor)) {
    return reply(res, form, 400, { ok: false, error: 'BAD_ACTOR', detail: 'actor must be 1–64 of A-Z a-z 0-9 . _ : @ -' });
  }
  const id = m[1]!;
  const decision = m[2] as 'approve' | 'deny';
  const result: GuardResult = o.gate.decide(id, decision, actor);
  o.log?.info({ hold: id, decision, actor, ok: result.ok, ...(result.ok ? { seq: result.seq } : { error: result.error }) }, 'guard decision');
  if (result.ok) return reply(res, form, 200, { ok: true, outcome: result.outcome.kind, seq: result.seq }, actor);
  const status = result.error === 'NO_SUCH_HOLD' ? 404 : result.error === 'NOT_RECORDED' ? 503 : 409;
  return reply(res, form, status, { ok: false, error: result.error }, actor);
}

/** The JSON view: exactly these fields, the name masked whatever arrived. */
function view(h: HoldView) {
  return {
    id: h.id,
    maskedName: safeName(h.maskedName),
    reason: h.reason,
    input: h.input,
    format: h.format,
    issuer: h.issuer,
    ageMs: Math.round(h.ageMs),
    expiresInMs: Math.round(h.expiresInMs),
  };
}

function safeName(name: string | null): string | null {
  return displayName(name); // §2: a name that already holds `*` is masked again all the same
}

function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // curl, scripts: not a browser
  return origin === `http://${req.headers.host ?? ''}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, form: boolean, status: number, body: object, actor?: string): void {
  const back = actor ? `/?actor=${encodeURIComponent(actor)}` : '/';
  if (form && status === 200) {
    res.writeHead(303, { location: back, 'cache-control': 'no-store' }).end();
    return;
  }
  if (form) return sendHtml(res, errorPage(status, body as { error?: string }, back), status);
  send(res, status, body);
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendHtml(res: ServerResponse, html: string, status = 200): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    'x-frame-options': 'DENY',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

const esc = (s: unknown) =>
  String(s ?? '—').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(holds: HoldView[], actor: string | null): string {
  const rows = holds
    .map((h) => {
      const v = view(h);
      const form = (action: 'approve' | 'deny') =>
        actor === null
          ? ''
          : `<form method="post" action="/holds/${esc(v.id)}/${action}"><input type="hidden" name="actor" value="${esc(actor)}"><button class="${action}">${action}</button></form>`;
      return `<tr><td>${esc(v.maskedName)}</td><td>${esc(v.reason)}</td><td>${esc(v.format ?? v.input)}</td><td>${esc(v.issuer)}</td><td>${Math.round(v.ageMs / 1000)} s</td><td>${form('approve')}${form('deny')}</td></tr>`;
    })
    .join('\n');
  const who =
    actor === null
      ? '<form method="get" action="/"><label>Guard id <input name="actor" required pattern="[A-Za-z0-9._:@-]{1,64}" placeholder="guard:wang"></label> <button>sign in</button></form>'
      : `<p>Signed in as <b>${esc(actor)}</b> · <a href="/">sign out</a></p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${actor === null ? '' : '<meta http-equiv="refresh" content="3">'}<title>passgate — held passes</title>
<style>body{font:16px system-ui,sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:.4em .8em;border-bottom:1px solid #ccc;text-align:left}
form{display:inline;margin-right:.5em}button.approve{background:#2a2;color:#fff}button.deny{background:#c22;color:#fff}</style></head>
<body><h1>Held passes</h1>
${who}
${holds.length === 0 ? '<p>No pass is waiting for a guard.</p>' : `<table><tr><th>name</th><th>reason</th><th>format</th><th>issuer</th><th>waiting</th><th></th></tr>\n${rows}</table>`}
</body></html>`;
}

function errorPage(status: number, body: { error?: string }, back: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>passgate — ${status}</title></head><body><p>Not done: ${esc(body.error)}.</p><p><a href="${esc(back)}">back</a></p></body></html>`;
}
