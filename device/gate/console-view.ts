/**
 * What the guard sees, as HTML fragments in one language: held passes, live decisions, gate status.
 * Pure functions of plain data (no I/O, no clock of their own), escaped throughout; the server sends
 * the same fragments in the first page and over server-sent events.
 */
import { displayName } from '../../base/display.js';
import type { Reason } from '../core/types.js';
import { fill, TEXTS, type Lang } from './console-text.js';

/** A held pass as the console receives it (controller.ts HoldView). */
export interface HeldPass {
  id: string;
  maskedName: string | null;
  reason: Reason;
  input: string;
  format: string | null;
  issuer: string | null;
  expiresInMs: number;
}

/** One line of the live view: a decision or a guard's action, never a name beyond its masked form. */
export interface LiveLine {
  seq: number;
  tsMs: number;
  type: 'decision' | 'override';
  result: string;
  reason: string;
  name: string | null;
  format: string | null;
  issuer: string | null;
  actor: string | null;
}

/** The gate's state as the console shows it (the service fills it in). */
export interface ConsoleStatus {
  site: string | null;
  gate: string | null;
  nowMs: number;
  clockTrusted: boolean;
  trust: { version: number; updatedAtMs: number; expiresAtMs: number | null; issuers: Record<string, string> } | null;
  policy: { version: number; updatedAtMs: number | null; listMaxAgeSeconds: number };
  lists: Record<'tokens' | 'holders', { version: number; updatedAtMs: number | null }>;
  outbox: { depth: number; oldestTsMs: number | null };
  /** null: no backend link configured. */
  broker: 'connected' | 'offline' | null;
  relay: 'active' | 'inactive';
  alarm: boolean;
  parts: { name: string; ok: boolean; detail?: string }[];
}

export const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A name as shown: always through the §2 display rule, whatever arrived. */
export function shownName(name: string | null | undefined): string {
  return displayName(name) ?? '—';
}

export function issuerName(issuer: string | null, status: ConsoleStatus | null): string | null {
  if (issuer === null) return null;
  return status?.trust?.issuers[issuer] ?? issuer;
}

export function duration(ms: number, lang: Lang): string {
  const t = TEXTS[lang];
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return fill(t.seconds, { n: s });
  if (s < 90 * 60) return fill(t.minutes, { n: Math.round(s / 60) });
  if (s < 48 * 3600) return fill(t.hours, { n: Math.round(s / 3600) });
  return fill(t.days, { n: Math.round(s / 86_400) });
}

function when(ms: number, lang: Lang): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  const date = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  return lang === 'zh-CN' ? date : date;
}

export function heldHtml(holds: HeldPass[], status: ConsoleStatus | null, lang: Lang): string {
  const t = TEXTS[lang];
  if (holds.length === 0) return `<p class="empty">${esc(t.noHolds)}</p>`;
  return holds
    .map((h) => {
      const what = [h.format ? (t.formats[h.format] ?? h.format) : (t.inputs[h.input] ?? h.input), issuerName(h.issuer, status)].filter(Boolean).join(' · ');
      return `<article class="hold" data-id="${esc(h.id)}">
<div class="who"><span class="name">${esc(shownName(h.maskedName))}</span><span class="cd" data-left="${Math.max(0, Math.round(h.expiresInMs))}">${esc(fill(t.expiresIn, { s: Math.max(0, Math.round(h.expiresInMs / 1000)) }))}</span></div>
<p class="why">${esc(t.reasons[h.reason] ?? h.reason)}</p>
<p class="what">${esc(what)}</p>
<div class="acts"><button type="button" class="big approve" data-act="approve" data-id="${esc(h.id)}">${esc(t.approve)}</button><button type="button" class="big deny" data-act="deny" data-id="${esc(h.id)}">${esc(t.deny)}</button></div>
</article>`;
    })
    .join('\n');
}

export function liveHtml(lines: readonly LiveLine[], status: ConsoleStatus | null, lang: Lang): string {
  const t = TEXTS[lang];
  if (lines.length === 0) return `<p class="empty">${esc(t.noLive)}</p>`;
  const rows = [...lines]
    .reverse()
    .map((l) => {
      const d = new Date(l.tsMs);
      const time = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
      const kind = l.type === 'override' ? 'guard' : l.result;
      const label = l.type === 'override' ? t.override : (t.result[l.result] ?? l.result);
      const what = [l.format ? (t.formats[l.format] ?? l.format) : null, issuerName(l.issuer, status)].filter(Boolean).join(' · ');
      const reason = (t.reasons as Record<string, string>)[l.reason] ?? l.reason;
      return `<li class="r-${esc(kind)}"><span class="t">${esc(time)}</span><span class="tag">${esc(label)}</span><span class="n">${esc(l.name === null ? '' : shownName(l.name))}</span><span class="why">${esc(reason)}${l.actor ? ` · ${esc(fill(t.by, { g: l.actor }))}` : ''}</span><span class="what">${esc(what)}</span></li>`;
    })
    .join('');
  return `<ol class="live">${rows}</ol>`;
}

/** A problem a person must look at, or none. */
export interface StatusRow {
  label: string;
  value: string;
  level: 'ok' | 'warn' | 'bad';
}

/** Until when the gate can decide offline with its current data: the earliest of trust expiry and list ages. */
export function offlineReadyUntil(s: ConsoleStatus): number | null {
  if (!s.trust) return null;
  const limits = [s.trust.expiresAtMs ?? Infinity];
  for (const l of Object.values(s.lists)) limits.push(l.updatedAtMs === null ? -Infinity : l.updatedAtMs + s.policy.listMaxAgeSeconds * 1000);
  const until = Math.min(...limits);
  return Number.isFinite(until) ? until : null;
}

export function statusRows(s: ConsoleStatus, lang: Lang): StatusRow[] {
  const t = TEXTS[lang];
  const rows: StatusRow[] = [];
  const ago = (ms: number | null) => (ms === null ? t.never : fill(t.age, { a: duration(s.nowMs - ms, lang) }));
  const ready = offlineReadyUntil(s);
  const readyText = ready === null ? t.offlineExpired.replace(' ({t})', '').replace('（{t}）', '') : ready > s.nowMs ? fill(t.offlineReady, { t: when(ready, lang) }) : fill(t.offlineExpired, { t: when(ready, lang) });
  rows.push({
    label: t.trust,
    value: s.trust ? `${t.version} ${s.trust.version} · ${ago(s.trust.updatedAtMs)} · ${readyText}` : `— · ${readyText}`,
    level: ready !== null && ready > s.nowMs ? (ready - s.nowMs < 6 * 3600_000 ? 'warn' : 'ok') : 'bad',
  });
  rows.push({ label: t.policy, value: `${t.version} ${s.policy.version} · ${ago(s.policy.updatedAtMs)}`, level: s.policy.version > 0 ? 'ok' : 'warn' });
  for (const name of ['tokens', 'holders'] as const) {
    const l = s.lists[name];
    const stale = l.updatedAtMs === null || s.nowMs - l.updatedAtMs > s.policy.listMaxAgeSeconds * 1000;
    rows.push({ label: t[name], value: `${t.version} ${l.version} · ${ago(l.updatedAtMs)}`, level: stale ? 'bad' : 'ok' });
  }
  rows.push({ label: t.clock, value: s.clockTrusted ? t.clockTrusted : t.clockUntrusted, level: s.clockTrusted ? 'ok' : 'bad' });
  rows.push({ label: t.broker, value: s.broker === null ? t.notConfigured : s.broker === 'connected' ? t.connected : t.offline, level: s.broker === 'offline' ? 'warn' : 'ok' });
  if (s.alarm) rows.push({ label: t.fireAlarm, value: t.alarmOn, level: 'bad' });
  rows.push({ label: t.relay, value: s.relay === 'active' ? t.relayActive : t.relayInactive, level: 'ok' });
  for (const p of s.parts) {
    if (p.name === 'link' || p.name === 'guardConsole') continue;
    const label = t.parts[p.name] ?? p.name;
    if (p.name === 'relay') {
      // The relay row above says where it is; a fault replaces it.
      if (!p.ok) rows.splice(rows.findIndex((r) => r.label === t.relay), 1, { label, value: `${t.fault}: ${p.detail ?? ''}`, level: 'bad' });
      continue;
    }
    rows.push({ label, value: p.ok ? t.ok : `${t.fault}${p.detail ? `: ${p.detail}` : ''}`, level: p.ok ? 'ok' : 'bad' });
  }
  const oldest = s.outbox.oldestTsMs;
  const oldAge = oldest === null ? 0 : s.nowMs - oldest;
  rows.push({
    label: t.outbox,
    value: `${s.outbox.depth}${oldest === null ? '' : ` · ${fill(t.oldest, { a: duration(oldAge, lang) })}`}`,
    level: oldAge > 3600_000 ? 'bad' : oldAge > 300_000 ? 'warn' : 'ok',
  });
  return rows;
}

export function statusHtml(s: ConsoleStatus, lang: Lang): { html: string; needsPerson: boolean } {
  const t = TEXTS[lang];
  const rows = statusRows(s, lang);
  const needsPerson = rows.some((r) => r.level === 'bad');
  const banner = `<p class="banner ${needsPerson ? 'bad' : 'ok'}">${esc(needsPerson ? t.needsPerson : t.allGood)}${s.site ? ` · ${esc(s.site)}/${esc(s.gate)}` : ''}</p>`;
  const table = rows.map((r) => `<tr class="${r.level}"><th>${esc(r.label)}</th><td>${esc(r.value)}</td></tr>`).join('');
  return { html: `${banner}<table class="status">${table}</table>`, needsPerson };
}
