/**
 * The console's pages (sign-in, no account yet, the console itself), its style sheet and its one
 * script. Everything is served by the gate itself: system fonts (Noto CJK on the Pi), no CDN, and a
 * Content-Security-Policy that allows only this origin's script and style.
 */
import { esc } from './console-view.js';
import { fill, TEXTS, type Lang } from './console-text.js';

function shell(lang: Lang, title: string, body: string, extraHead = ''): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="stylesheet" href="/app.css">${extraHead}</head>
<body>${body}</body></html>`;
}

function langSwitch(lang: Lang, back: string): string {
  const other: Lang = lang === 'zh-CN' ? 'en' : 'zh-CN';
  return `<a class="lang" href="/lang?to=${other}&amp;back=${encodeURIComponent(back)}" lang="${other}">${esc(TEXTS[lang].language)}</a>`;
}

export function loginPage(lang: Lang, o: { error?: string; lockedSeconds?: number; name?: string } = {}): string {
  const t = TEXTS[lang];
  const msg = o.lockedSeconds ? fill(t.locked, { s: o.lockedSeconds }) : o.error;
  return shell(
    lang,
    `${t.title} — ${t.signIn}`,
    `<header><h1>${esc(t.title)}</h1>${langSwitch(lang, '/login')}</header>
<main class="narrow">
<form class="login" method="post" action="/login">
${msg ? `<p class="error" role="alert" id="login-error">${esc(msg)}</p>` : ''}
<label>${esc(t.name)}<input name="name" autocomplete="username" autocapitalize="none" required maxlength="32" value="${esc(o.name ?? '')}"${o.name ? '' : ' autofocus'}></label>
<label>${esc(t.password)}<input name="password" type="password" autocomplete="current-password" required maxlength="256"${o.name ? ' autofocus' : ''}></label>
<button class="big primary" type="submit">${esc(t.signIn)}</button>
</form></main>`,
  );
}

export function noAccountPage(lang: Lang, dataDir: string): string {
  const t = TEXTS[lang];
  return shell(
    lang,
    t.noAccountTitle,
    `<header><h1>${esc(t.title)}</h1>${langSwitch(lang, '/')}</header>
<main class="narrow"><section class="setup"><h2>${esc(t.noAccountTitle)}</h2><p>${esc(t.noAccountText)}</p>
<pre>sudo -u passgate passgate guard add --data-dir ${esc(dataDir)} NAME</pre></section></main>`,
  );
}

export interface ConsoleShell {
  lang: Lang;
  guard: string;
  csrf: string;
  held: string;
  heldCount: number;
  live: string;
  status: string;
  needsPerson: boolean;
}

export function consolePage(p: ConsoleShell): string {
  const t = TEXTS[p.lang];
  const pick = (name: string, options: string[]) =>
    options.map((o, i) => `<label class="pick"><input type="radio" name="${name}" value="${esc(o)}"${i === 0 ? ' checked' : ''}><span>${esc(o)}</span></label>`).join('');
  const texts = { expiresIn: t.expiresIn, failed: t.failed, done: t.done, pickApprove: t.pickApprove, pickDeny: t.pickDeny, approve: t.approve, deny: t.deny, manualReason: t.manualReason };
  return shell(
    p.lang,
    t.title,
    `<header><h1>${esc(t.title)}</h1><span class="guard">${esc(t.signedInAs)}: <b>${esc(p.guard)}</b></span>${langSwitch(p.lang, '/')}
<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="${esc(p.csrf)}"><button type="submit">${esc(t.signOut)}</button></form></header>
<nav class="tabs" role="tablist">
<a href="#held" role="tab" data-tab="held">${esc(t.held)} <span class="count" id="held-count">${p.heldCount}</span></a>
<a href="#live" role="tab" data-tab="live">${esc(t.live)}</a>
<a href="#status" role="tab" data-tab="status" id="status-tab" class="${p.needsPerson ? 'bad' : ''}">${esc(t.status)}</a>
<a href="#open" role="tab" data-tab="open">${esc(t.manualOpen)}</a>
</nav>
<main>
<p id="notice" class="notice" role="status" aria-live="polite"></p>
<section id="held" class="tab"><h2>${esc(t.held)}</h2><div id="held-list">${p.held}</div></section>
<section id="live" class="tab"><h2>${esc(t.live)}</h2><div id="live-list">${p.live}</div></section>
<section id="status" class="tab"><h2>${esc(t.status)}</h2><div id="status-body">${p.status}</div></section>
<section id="open" class="tab"><h2>${esc(t.manualOpen)}</h2>
<form id="open-form" class="reasoned">
<fieldset><legend>${esc(t.manualReason)}</legend>${pick('pick', t.pickOpen)}</fieldset>
<label>${esc(t.note)}<input name="note" maxlength="200" placeholder="${esc(t.notePlaceholder)}"></label>
<button class="big open" type="submit">${esc(t.open)}</button>
</form></section>
</main>
<dialog id="decide"><form id="decide-form" class="reasoned" method="dialog">
<h2 id="decide-title"></h2><p id="decide-who"></p>
<fieldset><legend>${esc(t.reason)}</legend><div id="decide-picks"></div></fieldset>
<label>${esc(t.note)}<input name="note" maxlength="200" placeholder="${esc(t.notePlaceholder)}"></label>
<div class="acts"><button class="big" type="button" id="decide-cancel">${esc(t.cancel)}</button><button class="big primary" type="submit" id="decide-ok">${esc(t.confirm)}</button></div>
</form></dialog>
<script type="application/json" id="boot">${JSON.stringify({ csrf: p.csrf, lang: p.lang, t: texts }).replace(/</g, '\\u003c')}</script>
<script src="/app.js"></script>`,
  );
}

export const CSS = `
:root{--ok:#1b7f3b;--bad:#c0262d;--warn:#b36b00;--held:#a15c00;--fg:#111;--bg:#f4f5f7;--card:#fff;--line:#d5d8dd;
font-family:system-ui,-apple-system,"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;font-size:18px;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}body{margin:0;overflow-wrap:anywhere}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.4em .8em;padding:.4em .8em;background:#1f2937;color:#fff}
header h1{font-size:1.1em;margin:0;flex:1 1 auto}header .guard{font-size:.9em}
header a,header button{color:#fff}header .lang{padding:.5em .7em;border:1px solid #fff6;border-radius:6px;text-decoration:none;min-height:44px;display:inline-flex;align-items:center}
.logout{margin:0}.logout button{background:transparent;border:1px solid #fff6;border-radius:6px;padding:.5em .7em;font:inherit;min-height:44px;cursor:pointer}
nav.tabs{display:flex;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:1}
nav.tabs a{flex:1 1 0;text-align:center;padding:.7em .3em;color:var(--fg);text-decoration:none;font-weight:600;min-height:48px;border-bottom:4px solid transparent;font-size:.95em}
nav.tabs a.active{border-bottom-color:#2563eb;color:#1d4ed8}nav.tabs a.bad{color:var(--bad)}nav.tabs a.bad::after{content:" ●"}
.count{display:inline-block;min-width:1.6em;padding:0 .4em;border-radius:1em;background:var(--held);color:#fff;font-size:.85em}
main{padding:.6em .8em;max-width:1100px;margin:0 auto}main.narrow{max-width:480px;margin-top:1.5em}
h2{font-size:1.05em;margin:.3em 0 .6em}
.tab{display:none}.tab.active{display:block}
.empty{color:#555;padding:1em 0}
.hold{background:var(--card);border:1px solid var(--line);border-left:8px solid var(--held);border-radius:8px;padding:.6em .8em;margin-bottom:.7em}
.hold .who{display:flex;justify-content:space-between;align-items:baseline;gap:.5em}.hold .name{font-size:1.6em;font-weight:700}
.cd{font-variant-numeric:tabular-nums;color:var(--held);font-weight:600}.hold .why{font-size:1.15em;font-weight:600;margin:.2em 0}.hold .what{margin:.2em 0;color:#333}
.acts{display:flex;gap:.6em;margin-top:.5em}.acts .big{flex:1 1 0}
button.big{min-height:56px;font:inherit;font-weight:700;font-size:1.1em;border-radius:8px;border:2px solid #0003;padding:.4em 1em;cursor:pointer;background:#e5e7eb;color:var(--fg)}
button.approve,button.open{background:var(--ok);color:#fff}button.deny{background:var(--bad);color:#fff}button.primary{background:#1d4ed8;color:#fff}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
ol.live{list-style:none;margin:0;padding:0}
ol.live li{display:grid;grid-template-columns:auto auto 1fr;gap:.1em .6em;background:var(--card);border-left:8px solid #999;border-radius:6px;padding:.35em .6em;margin-bottom:.35em}
ol.live .t{font-variant-numeric:tabular-nums;color:#444}ol.live .tag{font-weight:700}ol.live .n{font-weight:700}ol.live .why,ol.live .what{grid-column:1/-1}ol.live .what{color:#444;font-size:.9em}
li.r-open{border-left-color:var(--ok)!important}li.r-open .tag{color:var(--ok)}li.r-deny{border-left-color:var(--bad)!important}li.r-deny .tag{color:var(--bad)}
li.r-staff{border-left-color:var(--held)!important}li.r-staff .tag{color:var(--held)}li.r-error{border-left-color:#7c3aed!important}li.r-guard{border-left-color:#1d4ed8!important}li.r-guard .tag{color:#1d4ed8}
.banner{font-weight:700;padding:.6em .8em;border-radius:8px;color:#fff;margin:0 0 .6em}.banner.ok{background:var(--ok)}.banner.bad{background:var(--bad)}
table.status{width:100%;border-collapse:collapse;background:var(--card)}table.status th,table.status td{text-align:left;padding:.45em .6em;border-bottom:1px solid var(--line);vertical-align:top}
table.status th{width:34%;font-weight:600}tr.bad td,tr.bad th{color:var(--bad);background:#fde8e8}tr.warn td{color:var(--warn)}
form.reasoned fieldset{border:1px solid var(--line);border-radius:8px;margin:0 0 .6em;padding:.4em .6em;display:flex;flex-wrap:wrap;gap:.4em}
label.pick{display:flex;align-items:center;gap:.4em;min-height:48px;padding:.2em .7em;border:1px solid var(--line);border-radius:8px;background:#fff;cursor:pointer;flex:1 1 12em}
label.pick input{width:1.3em;height:1.3em}
form label{display:block;margin:.4em 0}form input[name=note],form.login input{display:block;width:100%;font:inherit;padding:.6em;min-height:48px;border:1px solid #9ca3af;border-radius:8px;margin-top:.2em}
form.login{background:var(--card);padding:1em;border-radius:8px;border:1px solid var(--line)}form.login button{width:100%;margin-top:.6em}
.error{color:var(--bad);font-weight:700}.notice{min-height:1.2em;margin:0 0 .4em;font-weight:600}.notice.bad{color:var(--bad)}.notice.ok{color:var(--ok)}
dialog{border:none;border-radius:10px;padding:.8em;width:min(34em,96vw);max-height:96vh;overflow:auto}dialog::backdrop{background:#0008}
dialog h2{margin-top:0}.setup pre{white-space:pre-wrap;background:#111;color:#eee;padding:.6em;border-radius:6px}
@media (max-width:520px){:root{font-size:17px}header h1{flex-basis:100%}nav.tabs a{font-size:.85em;padding:.6em .15em}}
@media (max-height:520px){header{padding:.2em .8em}main{padding:.4em .8em}.hold{padding:.4em .6em;margin-bottom:.5em}.hold .name{font-size:1.35em}}
`;

/** The console's script: tabs, countdowns, the approve/deny dialog, manual open, and the live stream. */
export const SCRIPT = String.raw`'use strict';
(function () {
  var boot = JSON.parse(document.getElementById('boot').textContent);
  var t = boot.t;
  var $ = function (id) { return document.getElementById(id); };
  var fill = function (s, v) { return s.replace(/\{(\w+)\}/g, function (_, k) { return v[k] === undefined ? '' : String(v[k]); }); };
  var notice = function (text, ok) { var n = $('notice'); n.textContent = text; n.className = 'notice ' + (ok ? 'ok' : 'bad'); };

  function showTab() {
    var name = (location.hash || '#held').slice(1);
    if (!$(name) || !$(name).classList.contains('tab')) name = 'held';
    document.querySelectorAll('.tab').forEach(function (s) { s.classList.toggle('active', s.id === name); });
    document.querySelectorAll('nav.tabs a').forEach(function (a) { a.classList.toggle('active', a.dataset.tab === name); a.setAttribute('aria-selected', a.dataset.tab === name ? 'true' : 'false'); });
  }
  window.addEventListener('hashchange', showTab);
  showTab();

  var base = performance.now();
  function tick() {
    var gone = performance.now() - base;
    document.querySelectorAll('.cd').forEach(function (el) {
      var left = Math.max(0, Number(el.dataset.left) - gone);
      el.textContent = fill(t.expiresIn, { s: Math.round(left / 1000) });
    });
  }
  setInterval(tick, 1000);

  function post(path, body) {
    return fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': boot.csrf }, body: JSON.stringify(body) })
      .then(function (r) {
        if (r.status === 401) { location.href = '/login'; return { ok: false, error: 'SIGNED_OUT' }; }
        return r.json().catch(function () { return { ok: false, error: 'HTTP ' + r.status }; });
      })
      .catch(function () { return { ok: false, error: 'NETWORK' }; });
  }
  function reasonOf(form) {
    var picked = form.querySelector('input[name=pick]:checked');
    return { reason: picked ? picked.value : '', note: form.querySelector('input[name=note]').value };
  }

  var dialog = $('decide');
  var pending = null;
  $('held-list').addEventListener('click', function (e) {
    var b = e.target.closest('button[data-act]');
    if (!b) return;
    pending = { id: b.dataset.id, act: b.dataset.act };
    var card = b.closest('.hold');
    $('decide-title').textContent = b.dataset.act === 'approve' ? t.approve : t.deny;
    $('decide-who').textContent = card ? card.querySelector('.name').textContent + ' · ' + card.querySelector('.why').textContent : '';
    var opts = b.dataset.act === 'approve' ? t.pickApprove : t.pickDeny;
    var picks = $('decide-picks');
    picks.textContent = '';
    opts.forEach(function (o, i) {
      var l = document.createElement('label'); l.className = 'pick';
      var r = document.createElement('input'); r.type = 'radio'; r.name = 'pick'; r.value = o; r.checked = i === 0;
      var s = document.createElement('span'); s.textContent = o;
      l.appendChild(r); l.appendChild(s); picks.appendChild(l);
    });
    $('decide-form').querySelector('input[name=note]').value = '';
    $('decide-ok').className = 'big ' + (b.dataset.act === 'approve' ? 'approve' : 'deny');
    dialog.showModal();
  });
  $('decide-cancel').addEventListener('click', function () { pending = null; dialog.close(); });
  $('decide-form').addEventListener('submit', function (e) {
    e.preventDefault();
    if (!pending) return;
    var p = pending; pending = null;
    var body = reasonOf($('decide-form'));
    dialog.close();
    post('/holds/' + encodeURIComponent(p.id) + '/' + p.act, body).then(function (r) {
      notice(r.ok ? t.done : fill(t.failed, { e: r.error }), r.ok);
    });
  });
  $('open-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = reasonOf($('open-form'));
    post('/open', body).then(function (r) {
      notice(r.ok ? t.done : fill(t.failed, { e: r.error }), r.ok);
      if (r.ok) $('open-form').querySelector('input[name=note]').value = '';
    });
  });

  function apply(v) {
    if (v.held !== undefined) { $('held-list').innerHTML = v.held; $('held-count').textContent = String(v.heldCount); base = performance.now(); }
    if (v.live !== undefined) $('live-list').innerHTML = v.live;
    if (v.status !== undefined) { $('status-body').innerHTML = v.status; $('status-tab').classList.toggle('bad', !!v.needsPerson); }
  }
  var es = new EventSource('/events');
  es.addEventListener('view', function (e) { apply(JSON.parse(e.data)); });
  es.addEventListener('signedout', function () { es.close(); location.href = '/login'; });
})();
`;
