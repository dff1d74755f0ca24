/**
 * `npm start`: a whole gate in one process — no hardware, no network beyond loopback — deciding a
 * scripted stream of codes and ID cards at a human pace, so a newcomer can watch what the commuter
 * and the guard would see.
 *
 *   fresh Federation ─▶ ReferenceBackend ─MQTT─▶ embedded aedes broker (127.0.0.1, a free port)
 *                                                      ▲
 *   simulated serial scanner ─┐                        │ GateLink (trust, policy, lists, look-ups,
 *   ID-card reader ⇄ fake SAM ┼─▶ GateService ─────────┘  events, R/status, signed commands)
 *   (virtual serial link)     │     ├─ relay, LEDs, buzzer, passage sensor, fire alarm: in-memory GPIO
 *                             │     └─ guard console (HTTP on 127.0.0.1, a free port)
 *
 * The gate is built by device/main.ts's own building blocks (openStore, buildGpio, buildInputs,
 * buildLink, serviceOptions) from a config validated like /etc/passgate/config.json, with the
 * simulated twins selected: the ID card goes through the real GA/T 467 reader driver.
 *
 *   node dist/scripts/demo.js [--fast] [--verbose] [--serve]
 *
 * `--serve` (`npm start -- --serve`) keeps the gate running after the script, with its guard console
 * on a printed URL and a printed password for the demo guard, so it can be clicked through.
 * `--fast` (or PASSGATE_DEMO_FAST=1) drops the pauses between steps (the relay still takes its
 * 300 ms); `--verbose` writes the gate's own JSON logs to stderr. Ctrl-C stops it cleanly.
 *
 * Printed: masked names, reasons, handles' effects — never an ID number or the text of a code.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { GateStore } from '../device/store/store.js';
import { SystemClock } from '../device/clock.js';
import { Verifier, type Verdict } from '../device/verifier.js';
import { GateService } from '../device/service.js';
import { parseConfig, type Config } from '../device/config.js';
import { createLogger, moduleLogger } from '../device/log.js';
import { buildGpio, buildInputs, buildLink, closeGpio, openStore, serviceOptions, type GpioParts } from '../device/main.js';
import type { Presented, Result } from '../device/core/types.js';
import { MemoryGpio } from '../drivers/gpio/line.js';
import { RelayProbe } from '../drivers/gpio/probe.js';
import { SimulatedScanner } from '../drivers/serial-scanner/index.js';
import { SimulatedIdCardReader, type CardFields } from '../drivers/idcard/index.js';
import { Federation } from './lib/federation.js';
import { generateKey, holderHandleOf, issueHp1, type Hp1Claims } from './lib/issuer.js';
import { ReferenceBackend } from './backend/reference-backend.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './backend/embedded-broker.js';
import { hashPassword } from '../device/gate/guard-accounts.js';
import { signIn } from './lib/console-client.js';

const args = process.argv.slice(2);
const FAST = args.includes('--fast') || process.env.PASSGATE_DEMO_FAST === '1';
const VERBOSE = args.includes('--verbose');
const SERVE = args.includes('--serve');
/** Between two steps, so a person can read along. */
const PAUSE_MS = FAST ? 0 : 700;

const SITE = 'metro-line-2';
const GATE = 'north-07';
/** BCM lines of the (simulated) wiring. */
const PIN = { relay: 17, passage: 27, fireAlarm: 22, green: 5, red: 6, amber: 13, buzzer: 19 } as const;
const GUARD = 'guard:demo';
/** The demo guard's password: fresh each run, printed with --serve. */
const GUARD_PASSWORD = randomBytes(9).toString('base64url');

// Synthetic cards (valid check digits except the misread one). Their numbers are never printed.
const CARD_GREEN: CardFields = { name: '李四', idNumber: '11010519491231002X' };
const CARD_MISREAD: CardFields = { name: '李四', idNumber: '110105194912310021' };
const CARD_ONLINE: CardFields = { name: '陈静', idNumber: '440524188001010014' };

// --- output ------------------------------------------------------------------------------------------

const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint(1);
const dim = paint(2);
const TAG: Record<string, (s: string) => string> = {
  OPEN: paint(32),
  GUARD: paint(32),
  CMD: paint(32),
  DENY: paint(31),
  ERROR: paint(35),
  STAFF: paint(33),
  ALARM: paint(33),
  OFFLINE: paint(33),
  ONLINE: paint(36),
  PASSAGE: paint(36),
};
const say = (line = '') => process.stdout.write(`${line}\n`);

/** Terminal columns of a string (CJK characters take two). */
function columns(s: string): number {
  let n = 0;
  for (const ch of s) n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return n;
}
const pad = (s: string, width: number) => s + ' '.repeat(Math.max(0, width - columns(s)));

interface Row {
  tag: string;
  reason: string;
  what: string;
  relay: string;
  latency: string;
  note?: string;
}
let stepNo = 0;
function row(r: Row): void {
  const tag = (TAG[r.tag] ?? ((s: string) => s))(pad(r.tag, 7));
  say(`${String(++stepNo).padStart(3)}  ${tag} ${pad(r.reason, 18)} ${pad(r.what, 40)} ${pad(r.relay, 13)} ${r.latency.padStart(8)}  ${r.note ?? ''}`.trimEnd());
}
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`);

// --- waiting, interruptibly ----------------------------------------------------------------------------

class Interrupted extends Error {}
const abort = new AbortController();

function sleep(msToWait: number): Promise<void> {
  if (abort.signal.aborted) return Promise.reject(new Interrupted());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new Interrupted());
    };
    const t = setTimeout(() => {
      abort.signal.removeEventListener('abort', onAbort);
      resolve();
    }, msToWait);
    abort.signal.addEventListener('abort', onAbort, { once: true });
  });
}
const pause = () => (PAUSE_MS > 0 ? sleep(PAUSE_MS) : Promise.resolve());

/** Polls `ready` every 10 ms; throws after `timeoutMs` naming what it waited for. */
async function until(ready: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The same for shutdown, which Ctrl-C must not cut short: resolves true once ready, false at the timeout. */
async function settle(ready: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!ready() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return ready();
}

// --- watching the gate from outside ------------------------------------------------------------------

/** The in-memory GPIO, with a way to pulse an input contact. */
class WatchedGpio extends MemoryGpio {
  /** A short contact pulse on an input line: the passage sensor's PASS contact opening for a moment. */
  async pulse(line: number, msHigh = 60): Promise<void> {
    this.set(line, 1);
    await sleep(msHigh);
    this.set(line, 0);
  }
}

/** The relay as its coil sees it (drivers/gpio's RelayProbe on the twin), drawn for the table. */
class RelayView extends RelayProbe {
  constructor(gpio: WatchedGpio, activeLow: boolean) {
    super(gpio, PIN.relay, activeLow);
  }

  get isEnergised(): boolean {
    return this.energised;
  }
  /** `▁▔▁ 300 ms` for a pulse, `▁▔▔ held`, `▔▁▁ released`, `▁▁▁` for no movement. */
  draw(mark: number): string {
    const log = this.writes;
    let on = mark > 0 && log[mark - 1]!.energised;
    let glyphs = on ? '▔' : '▁';
    for (const w of log.slice(mark)) {
      if (w.energised === on) continue;
      glyphs += w.energised ? '▔' : '▁';
      on = w.energised;
    }
    const pulses = this.pulsesSince(mark);
    if (glyphs.length === 1) return glyphs.repeat(3);
    if (pulses.length > 0) return `${glyphs.padEnd(3, '▁')} ${pulses.map((p) => Math.round(p / 10) * 10).join('+')} ms`;
    return on ? `${glyphs}▔ held` : `${glyphs}▁ released`;
  }
}

/**
 * The Verifier as the service sees it, plus a way for the demo to await the next verdict. The
 * service calls present(); the demo only listens.
 */
class WatchedVerifier {
  readonly verdicts: Verdict[] = [];
  private waiters: ((v: Verdict) => void)[] = [];

  constructor(readonly inner: Verifier) {}

  async present(p: Presented): Promise<Verdict> {
    const v = await this.inner.present(p);
    this.verdicts.push(v);
    this.waiters.shift()?.(v);
    return v;
  }

  currentPolicy() {
    return this.inner.currentPolicy();
  }

  /** Runs `act` (put a code under the scanner, a card on the reader) and resolves with its verdict. */
  async decide(act: () => unknown, timeoutMs = 10_000): Promise<Verdict> {
    let got: Verdict | null = null;
    this.waiters.push((v) => (got = v));
    await act();
    await until(() => got !== null, 'a decision', timeoutMs);
    await sleep(5); // the service acts on the verdict right after present() returns
    return got!;
  }
}

// --- the stage ---------------------------------------------------------------------------------------

/** Everything the demo starts, so that shutdown can stop whatever got started. */
interface Stage {
  dir: string;
  broker?: EmbeddedBroker;
  backend?: ReferenceBackend;
  store?: GateStore;
  gpio?: GpioParts;
  chip?: WatchedGpio;
  service?: GateService;
  log?: ReturnType<typeof createLogger>;
}
const stage: Stage = { dir: mkdtempSync(join(tmpdir(), 'passgate-demo-')) };

async function main(): Promise<void> {
  say(bold('passgate demo — a simulated gate, a broker and a backend in one process') + dim('  (Ctrl-C stops it cleanly)'));
  say();

  // 1. A fresh federation and a provisioned data directory (`passgate init`).
  const fed = Federation.create();
  const now = Math.floor(Date.now() / 1000);
  const dataDir = join(stage.dir, 'gate');
  const init = GateStore.open(dataDir);
  init.initialise({ site: SITE, gate: GATE, roots: [fed.rootSpki()] });
  init.saveGuard(GUARD.slice('guard:'.length), await hashPassword(GUARD_PASSWORD), Date.now()); // passgate guard add
  init.close();
  say(`  data dir    ${stage.dir} ${dim('(removed at the end)')}`);
  say(`  federation  root ${fed.root.alg} ${fed.root.kid.slice(0, 8)}…; issuers ${[...fed.issuers.values()].map((i) => `${i.id} ${i.name} (${i.key.alg})`).join(', ')}`);
  say(`  init        gate ${SITE}/${GATE}, federation root pinned`);

  // 2. The broker and the backend, which publishes trust, policy and lists.
  const broker = (stage.broker = await startEmbeddedBroker());
  const backend = (stage.backend = new ReferenceBackend({ brokerUrl: broker.url, federation: fed, site: SITE, dbPath: join(stage.dir, 'backend.sqlite') }));
  await backend.start();
  const code = (issuer: string, c: Partial<Hp1Claims> = {}) =>
    issueHp1(fed.issuer(issuer), { iss: issuer, iat: now - 30, exp: now + 600, status: 1, kind: 'dynamic', ...c });
  const revoked = code('CN-330000', { maskedName: '周*' });
  await backend.publishTrust(1);
  await backend.publishPolicy({ version: 1, antiPassbackSeconds: 20, lookupTimeoutMs: 1500, pulseMs: 300 });
  await backend.publishDelta('tokens', { put: [[revoked.handle, 0, now, now + 86_400]] });
  await backend.publishDelta('holders', { put: [[holderHandleOf(fed.holderKey, CARD_GREEN.idNumber), 1, now, now + 86_400]] });
  backend.setHolder(holderHandleOf(fed.holderKey, CARD_ONLINE.idNumber), 1);
  say(`  broker      aedes on ${broker.url} ${dim('(loopback)')}`);
  say('  backend     trust v1, policy v1, tokens v1 (1 revoked code), holders v1 (1 green holder); knows 1 more holder for look-ups');

  // 3. The gate, built the way device/main.ts builds it, from a config with the simulated twins.
  const config: Config = parseConfig({
    dataDir,
    durability: 'normal',
    clock: { trusted: 'system' }, // a demo on a laptop: its clock is as good as the machine's ('auto' asks timesyncd)
    logging: { level: VERBOSE ? 'info' : 'error' },
    scanners: [{ type: 'simulated' }],
    idReader: { type: 'simulated' },
    gpio: {
      simulated: true,
      failMode: 'secure',
      relay: { line: PIN.relay, activeLow: true },
      passage: { line: PIN.passage },
      fireAlarm: { line: PIN.fireAlarm },
      leds: { green: { line: PIN.green }, red: { line: PIN.red }, amber: { line: PIN.amber } },
      buzzer: { line: PIN.buzzer },
    },
    mqtt: { url: broker.url },
  });
  const root = (stage.log = createLogger(config.logging, pino.destination({ dest: 2, sync: true })));
  const store = (stage.store = openStore(config, moduleLogger(root, 'main')));
  const clock = new SystemClock(config.clock.trusted === 'system');
  const chip = (stage.chip = new WatchedGpio());
  const gpio = (stage.gpio = await buildGpio(config.gpio, root, chip));
  const relay = new RelayView(chip, config.gpio.relay.activeLow);
  let service: GateService | null = null;
  let verifier: Verifier | null = null;
  const restart = (why: string) => say(dim(`  (the backend asked for a restart: ${why}; the demo carries on)`));
  const link = buildLink(config, store, clock, root, () => verifier, () => service, restart);
  verifier = new Verifier(store, clock, link.lookupPort, moduleLogger(root, 'verifier'));
  const decisions = new WatchedVerifier(verifier);
  const inputs = await buildInputs(config, root);
  const scanner = inputs.find((i): i is SimulatedScanner => i instanceof SimulatedScanner)!;
  const reader = inputs.find((i): i is SimulatedIdCardReader => i instanceof SimulatedIdCardReader)!;
  service = stage.service = new GateService({
    ...serviceOptions(config, { store, clock, verifier: decisions, inputs, gpio, link, log: root }),
    // A real gate listens on config.guardConsole.port (8088); the demo takes any free loopback port.
    guardConsole: { host: config.guardConsole.host, port: 0 },
  });
  const started = performance.now();
  await service.start();
  const gate = service.gate;
  const consoleAt = service.guardConsoleAddress();
  const consoleUrl = consoleAt?.url ?? '';
  say(
    `  gate        serial scanner and ID-card reader (GA/T 467 driver ⇄ fake SAM over a virtual serial link); ` +
      `in-memory GPIO: relay ${PIN.relay} (active-low), passage ${PIN.passage}, fire alarm ${PIN.fireAlarm}, LEDs ${PIN.green}/${PIN.red}/${PIN.amber}, buzzer ${PIN.buzzer}`,
  );
  say(`  console     guard console on ${consoleUrl}/`);
  await until(
    () => link.connected && store.document('trust') !== null && decisions.currentPolicy().version === 1 && store.meta('tokens').version === 1 && store.meta('holders').version === 1,
    'the gate to sync trust, policy and lists over MQTT',
    20_000,
  );
  say(`  link        connected (MQTT ${link.protocolVersion === 5 ? '5' : '3.1.1'}); trust, policy and lists arrived over MQTT in ${ms(performance.now() - started)}`);
  say(dim(`  relay: ▔ = coil energised (GPIO ${PIN.relay} low on this active-low board) = turnstile unlocked; ▁ = at rest`));
  say(dim("  walked through: after the pulse the turnstile's passage sensor fires, which ends the pass (a passage event)"));
  say();
  say(dim(`  #  ${pad('result', 7)} ${pad('reason', 18)} ${pad('who / what', 40)} ${pad('relay', 13)} ${'latency'.padStart(8)}  note`));

  // --- the steps -------------------------------------------------------------------------------------

  let lastPassageAt = 0;
  /** The commuter walks through after the relay pulse: the turnstile's PASS contact opens for a moment. */
  const walkThrough = async (mark: number) => {
    await until(() => relay.pulsedSince(mark), 'the relay pulse');
    await sleep(Math.max(0, lastPassageAt + 250 - performance.now())); // the gate debounces passages (200 ms)
    await chip.pulse(PIN.passage);
    lastPassageAt = performance.now();
    await until(() => gate.snapshot().phase === 'idle', 'the gate to be idle after the passage');
  };

  /** One decision: `act` presents something; the row shows what the gate did. */
  const step = async (what: string, act: () => unknown, o: { note?: (v: Verdict) => string | undefined } = {}) => {
    const mark = relay.mark();
    const lookupsBefore = link.stats().lookup.answered;
    const v = await decisions.decide(act);
    const d = v.decision;
    if (d.result === 'open') await walkThrough(mark);
    const notes = [
      link.stats().lookup.answered > lookupsBefore ? 'online look-up answered by the backend' : undefined,
      d.result === 'open' ? 'walked through' : undefined,
      d.reason === 'UNREADABLE' && d.detail ? `driver says: ${d.detail}` : undefined,
      o.note?.(v),
    ].filter(Boolean);
    row({
      tag: d.result.toUpperCase(),
      reason: d.reason,
      what: d.displayName ? `${what} · ${d.displayName}` : what,
      relay: relay.draw(mark),
      latency: ms(v.latencyUs / 1000),
      note: notes.join('; '),
    });
    await pause();
    return v;
  };
  const qr = (text: string) => () => scanner.present(text);

  /** A card on the reader; once decided it is taken away, and the reader must notice before the next. */
  const card = (c: CardFields) => () => reader.present(c);
  const takeCardAway = async () => {
    reader.remove();
    let finds = 0;
    const onRequest = (command: string) => void (command === 'find' && finds++);
    reader.fake.on('request', onRequest);
    try {
      await until(() => finds >= 3, 'the reader to notice the card is gone');
    } finally {
      reader.fake.off('request', onRequest);
    }
  };

  // Phone codes from three provinces, each signed with its own algorithm, and a paper code.
  const phone = code('CN-330000', { maskedName: '王*' });
  await step('phone code · Zhejiang · ES256', qr(phone.text));
  await step('the same code again at once', qr(phone.text), { note: () => 'anti-passback: 20 s' });
  await step('phone code · Beijing · EdDSA', qr(code('CN-110000', { maskedName: '刘*' }).text));
  await step('phone code · Guangdong · SM2/SM3', qr(code('CN-440000', { maskedName: '黄*' }).text));
  await step('printed paper code · Beijing', qr(code('CN-110000', { kind: 'paper', iat: now - 30 * 86_400, exp: now + 150 * 86_400 }).text));

  // Yellow: held for the guard, who approves it on the console (here through its HTTP API).
  const yellow = await step('yellow phone code · Guangdong', qr(code('CN-440000', { status: 2, maskedName: '张*' }).text), {
    note: () => `held for the guard (${gate.holds().length} waiting)`,
  });
  {
    const mark = relay.mark();
    const guard = await signIn(consoleUrl, GUARD.slice('guard:'.length), GUARD_PASSWORD);
    const { holds } = (await (await guard.get('/holds')).json()) as { holds: { id: string; maskedName: string | null; reason: string }[] };
    const hold = holds[0]!;
    const t0 = performance.now();
    const res = await guard.post(`/holds/${hold.id}/approve`, { reason: 'ID checked in person' });
    const body = (await res.json()) as { ok: boolean; outcome?: string; seq?: number; error?: string };
    const latency = performance.now() - t0;
    if (!body.ok) throw new Error(`demo: the guard console refused the approval: ${body.error}`);
    await walkThrough(mark);
    row({
      tag: 'GUARD',
      reason: 'GUARD_APPROVED',
      what: `${GUARD} approves ${hold.maskedName ?? ''} (${hold.reason})`,
      relay: relay.draw(mark),
      latency: ms(latency),
      note: `POST /holds/${hold.id}/approve → override event #${body.seq} (ref #${yellow.seq}); walked through`,
    });
    await pause();
  }

  // Codes the gate turns away.
  await step('red phone code · Zhejiang', qr(code('CN-330000', { status: 3, maskedName: '吴*' }).text));
  await step('code that expired a minute ago', qr(code('CN-330000', { iat: now - 660, exp: now - 60 }).text));
  await step('code the backend revoked', qr(revoked.text), { note: () => 'token handle in the tokens list' });
  const tampered = phone.text.slice(0, -3) + (phone.text.endsWith('000') ? '111' : '000');
  await step('screenshot edited by hand', qr(tampered));
  const stranger = issueHp1(generateKey('ES256').key, { iss: 'CN-330000', iat: now, exp: now + 600, status: 1, kind: 'dynamic' });
  await step('code signed by an unknown key', qr(stranger.text));
  await step('a web link, not a health code', qr('https://example.com/ticket/42'));
  await step('scanner garbage', () => scanner.presentRaw(Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0x0d, 0x0a])));

  // Resident ID cards, through the real reader driver and the fake SAM.
  await step('ID card, green in the holders list', card(CARD_GREEN));
  await takeCardAway();
  await step('ID card misread (bad check digit)', card(CARD_MISREAD));
  await takeCardAway();
  await step('ID card only the backend knows', card(CARD_ONLINE));
  await takeCardAway();

  // The passage sensor and the fire alarm, through the GPIO inputs.
  {
    const before = store.outboxStats().lastSeq;
    const mark = relay.mark();
    await chip.pulse(PIN.passage);
    lastPassageAt = performance.now();
    await until(() => store.outboxStats().lastSeq > before, 'the passage event');
    row({ tag: 'PASSAGE', reason: 'unexpected', what: 'someone pushes through with no pass', relay: relay.draw(mark), latency: '', note: `passage event #${store.outboxStats().lastSeq} (tailgater or forced arm)` });
    await pause();
  }
  {
    const mark = relay.mark();
    const t0 = performance.now();
    chip.set(PIN.fireAlarm, 1); // the normally-closed alarm contact opens
    await until(() => relay.isEnergised && gate.snapshot().phase === 'alarm', 'the gate to release on the fire alarm');
    const latency = relay.energisedSince(mark)!.atMs - t0;
    await sleep(20);
    row({ tag: 'ALARM', reason: 'fire alarm on', what: 'fire alarm contact opens', relay: relay.draw(mark), latency: ms(latency), note: `gate released and held free; alarm event #${store.outboxStats().lastSeq}` });
    await pause();
    const mark2 = relay.mark();
    const t1 = performance.now();
    chip.set(PIN.fireAlarm, 0);
    await until(() => !relay.isEnergised && gate.snapshot().phase === 'idle', 'the gate to lock again after the alarm');
    const latency2 = relay.lastChangeAt() - t1;
    await sleep(20);
    row({ tag: 'ALARM', reason: 'fire alarm off', what: 'fire alarm contact closes again', relay: relay.draw(mark2), latency: ms(latency2), note: `gate locked, ready; alarm event #${store.outboxStats().lastSeq}` });
    await pause();
  }

  // The broker goes away: decisions go on offline and their events wait in the outbox.
  {
    await until(() => store.outboxStats().depth === 0, 'the outbox to drain', 10_000).catch(() => {}); // a clean start for the story
    const mark = relay.mark();
    await broker.suspend();
    await until(() => !link.connected, 'the gate to notice the broker is gone');
    row({ tag: 'OFFLINE', reason: 'broker gone', what: 'the broker goes away', relay: relay.draw(mark), latency: '', note: `link offline; outbox ${store.outboxStats().depth}; decisions go on` });
    await pause();
    const offline = () => `offline; outbox ${store.outboxStats().depth} waiting`;
    await step('phone code · Zhejiang (offline)', qr(code('CN-330000', { maskedName: '孙*' }).text), { note: offline });
    await step('red phone code · Beijing (offline)', qr(code('CN-110000', { status: 3 }).text), { note: offline });
    await step('phone code · Guangdong (offline)', qr(code('CN-440000', { maskedName: '郑*' }).text), { note: offline });

    const waiting = store.outboxStats().depth;
    const back = relay.mark();
    const t0 = performance.now();
    await broker.resume();
    await until(() => link.connected, 'the gate to reconnect', 30_000);
    const reconnectMs = performance.now() - t0;
    const lastSeq = store.outboxStats().lastSeq;
    await until(() => store.outboxStats().depth === 0 && backend.cursor(GATE).upTo >= lastSeq, 'the outbox to drain', 30_000);
    row({
      tag: 'ONLINE',
      reason: 'reconnected',
      what: 'the broker comes back',
      relay: relay.draw(back),
      latency: ms(reconnectMs),
      note: `outbox ${waiting} → 0; backend stored ${backend.storedCount(GATE)} = gate's last seq ${lastSeq}, ack upTo ${backend.cursor(GATE).upTo}`,
    });
    await pause();
  }

  // A signed remote `open` from the backend: verified, recorded, then the relay pulses once.
  {
    const mark = relay.mark();
    const t0 = performance.now();
    const signed = backend.signCommand(GATE, 'open', { actor: 'ops:demo' });
    const reply = await backend.sendSigned(signed);
    const latency = performance.now() - t0;
    if (!reply.ok) throw new Error(`demo: the gate refused the open command: ${reply.error}`);
    await walkThrough(mark);
    const stored = () => backend.storedEvents(GATE).find((e) => e.type === 'command' && e.body.jti === signed.jti);
    await until(() => stored() !== undefined, 'the command event at the backend');
    row({
      tag: 'CMD',
      reason: 'open ok',
      what: `signed open from the backend (ctr ${signed.ctr})`,
      relay: relay.draw(mark),
      latency: ms(latency),
      note: `remote open by ops:demo; command event #${stored()!.seq} at the backend; walked through`,
    });
  }

  // --- summary -----------------------------------------------------------------------------------------

  const lastSeq = store.outboxStats().lastSeq;
  await until(() => store.outboxStats().depth === 0 && backend.cursor(GATE).upTo >= lastSeq, 'the outbox to drain', 30_000).catch(() => {});
  const requested = Date.now();
  await link.publishStatus();
  await until(() => (backend.gateStatus(GATE)?.tsMs ?? 0) >= requested, 'R/status at the backend', 5000).catch(() => {});

  const byResult = new Map<Result, number>();
  for (const v of decisions.verdicts) byResult.set(v.decision.result, (byResult.get(v.decision.result) ?? 0) + 1);
  const counts = (['open', 'deny', 'staff', 'error'] as const).map((r) => `${r.toUpperCase()} ${byResult.get(r) ?? 0}`).join(' · ');
  const ob = store.outboxStats();
  say();
  say(bold('summary'));
  say(`  decisions   ${decisions.verdicts.length}: ${counts}; plus 1 guard override and 1 remote command`);
  say(`  events      backend stored ${backend.storedCount(GATE)} (ack upTo ${backend.cursor(GATE).upTo}); gate's last seq ${ob.lastSeq}, outbox depth ${ob.depth}`);
  const st = backend.gateStatus(GATE) as StatusExcerpt | undefined;
  if (st) {
    say(
      `  R/status    session ${st.session} · trust v${st.trust?.version} · policy v${st.policy?.version} · tokens v${st.lists?.tokens.version} (${st.lists?.tokens.entries}) · ` +
        `holders v${st.lists?.holders.version} (${st.lists?.holders.entries}) · outbox depth ${st.outbox?.depth}`,
    );
    const g = st.hardware?.gate;
    say(
      `              gate ${g?.phase}, relay ${g?.relay}, alarm ${g?.alarm ? 'on' : 'off'} · look-ups ${st.lookup?.requests} asked, ${st.lookup?.answered} answered · ` +
        `refusals ${st.refusals?.total ?? 0}`,
    );
  }
}

/** The R/status fields the summary shows (the payload is gateStatus() plus the link's counters). */
interface StatusExcerpt {
  session: number;
  trust?: { version: number } | null;
  policy?: { version: number };
  lists?: Record<'tokens' | 'holders', { version: number; entries: number }>;
  outbox?: { depth: number };
  lookup?: { requests: number; answered: number };
  refusals?: { total: number };
  hardware?: { gate?: { phase: string; relay: string; alarm: boolean } } | null;
}

// --- shutdown ----------------------------------------------------------------------------------------

/** Stops whatever was started, relay first; each part on its own so one failure does not skip the rest. */
async function shutdown(): Promise<void> {
  const done: string[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`demo: ${what} failed: ${(e as Error).message}\n`);
    }
  };
  const { service, gpio, chip, backend, broker, store, log } = stage;
  if (service) await attempt('stopping the gate', () => service.stop()); // relay safe first, link offline
  if (gpio && log) await attempt('closing GPIO', () => closeGpio(gpio, moduleLogger(log, 'gpio')));
  if (chip?.level(PIN.relay) === 1) done.push(`relay released (GPIO ${PIN.relay} high: coil at rest)`);
  if (backend && service && (await settle(() => backend.gateState(GATE)?.state === 'offline', 3000))) done.push('link offline (the backend saw it)');
  if (backend) await attempt('stopping the backend', () => backend.stop());
  if (broker) await attempt('closing the broker', async () => (await broker.close(), done.push('broker closed')));
  if (store) await attempt('closing the store', () => store.close());
  log?.flush();
  rmSync(stage.dir, { recursive: true, force: true });
  if (!existsSync(stage.dir)) done.push('data dir removed');
  say(dim(`  shutdown: ${done.join(', ')}`));
}

let interrupts = 0;
const onSignal = () => {
  if (++interrupts > 1) {
    stage.service?.releaseNow();
    process.exit(130);
  }
  say();
  say(dim('  interrupted: stopping cleanly (Ctrl-C again to force)'));
  abort.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** --serve: the gate stays up for a person to click through its console until Ctrl-C. */
async function serve(): Promise<void> {
  const at = stage.service?.guardConsoleAddress();
  if (!at) return;
  say();
  say(bold('the gate keeps running') + dim('  (Ctrl-C stops it cleanly)'));
  say(`  guard console  ${at.url}/`);
  say(`  sign in as     ${GUARD.slice('guard:'.length)}  password ${GUARD_PASSWORD}`);
  await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
}

let exitCode = 0;
try {
  await main();
  if (SERVE) await serve();
} catch (e) {
  if (e instanceof Interrupted) exitCode = 130;
  else {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    exitCode = 1;
  }
} finally {
  await shutdown();
}
// Everything is closed, so the process would end by itself; this makes sure it does, with our code.
process.exit(exitCode);
