/**
 * The demo's story: the scripted stream a newcomer watches, one table row per step — phone codes of
 * three provinces, a paper code, a yellow code approved on the guard console, the codes turned away,
 * ID cards, the passage sensor, a fire alarm, a broker outage with decisions going on offline, a
 * signed remote `open` — then a summary from the backend's R/status.
 *
 * Printed: masked names, reasons, handles' effects — never an ID number or the text of a code.
 */
import { signIn } from '../lib/console-client.js';
import { DEMO_GUARD, DEMO_GUARD_PASSWORD } from './stage.js';
import { performance } from 'node:perf_hooks';
import type { Verdict } from '../../device/verifier.js';
import type { Result } from '../../device/core/types.js';
import type { CardFields } from '../../drivers/idcard/index.js';
import { generateKey, issueHp1 } from '../lib/issuer.js';
import { bold, dim, ms, say, type Table } from './table.js';
import { drawRelay, type Pacer } from './watch.js';
import { CARD_GREEN, CARD_MISREAD, CARD_ONLINE, GATE, PIN, type Scene } from './stage.js';

const GUARD = `guard:${DEMO_GUARD}`;

export async function tell(scene: Scene, pacer: Pacer, table: Table): Promise<void> {
  const { now, backend, broker, chip, relay, decisions, scanner, reader, consoleUrl, code, revoked } = scene;
  const { store, controller } = scene.gate;
  const link = scene.gate.link!;
  say(dim(`  relay: ▔ = coil energised (GPIO ${PIN.relay} low on this active-low board) = turnstile unlocked; ▁ = at rest`));
  say(dim("  walked through: after the pulse the turnstile's passage sensor fires, which ends the pass (a passage event)"));
  say();
  table.header();

  let lastPassageAt = 0;
  /** The commuter walks through after the relay pulse: the turnstile's PASS contact opens for a moment. */
  const walkThrough = async (mark: number) => {
    await pacer.until(() => relay.pulsedSince(mark), 'the relay pulse');
    await pacer.sleep(Math.max(0, lastPassageAt + 250 - performance.now())); // the gate debounces passages (200 ms)
    await pacer.pulse(chip, PIN.passage);
    lastPassageAt = performance.now();
    await pacer.until(() => controller.snapshot().phase === 'idle', 'the gate to be idle after the passage');
  };

  /** One decision: `act` presents something; the row shows what the gate did. */
  const step = async (what: string, act: () => unknown, o: { note?: (v: Verdict) => string | undefined } = {}) => {
    const mark = relay.mark();
    const lookupsBefore = link.stats().lookup.answered;
    const v = await decisions.next(act);
    const d = v.decision;
    if (d.result === 'open') await walkThrough(mark);
    const notes = [
      link.stats().lookup.answered > lookupsBefore ? 'online look-up answered by the backend' : undefined,
      d.result === 'open' ? 'walked through' : undefined,
      d.reason === 'UNREADABLE' && d.detail ? `driver says: ${d.detail}` : undefined,
      o.note?.(v),
    ].filter(Boolean);
    table.row({
      tag: d.result.toUpperCase(),
      reason: d.reason,
      what: d.displayName ? `${what} · ${d.displayName}` : what,
      relay: drawRelay(relay, mark),
      latency: ms(v.latencyUs / 1000),
      note: notes.join('; '),
    });
    await pacer.pause();
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
      await pacer.until(() => finds >= 3, 'the reader to notice the card is gone');
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
    note: () => `held for the guard (${controller.holds().length} waiting)`,
  });
  {
    const mark = relay.mark();
    const guard = await signIn(consoleUrl, DEMO_GUARD, DEMO_GUARD_PASSWORD);
    const { holds } = (await (await guard.get('/holds')).json()) as { holds: { id: string; maskedName: string | null; reason: string }[] };
    const hold = holds[0]!;
    const t0 = performance.now();
    const res = await guard.post(`/holds/${hold.id}/approve`, { reason: 'ID checked in person' });
    const body = (await res.json()) as { ok: boolean; outcome?: string; seq?: number; error?: string };
    const latency = performance.now() - t0;
    if (!body.ok) throw new Error(`demo: the guard console refused the approval: ${body.error}`);
    await walkThrough(mark);
    table.row({
      tag: 'GUARD',
      reason: 'GUARD_APPROVED',
      what: `${GUARD} approves ${hold.maskedName ?? ''} (${hold.reason})`,
      relay: drawRelay(relay, mark),
      latency: ms(latency),
      note: `POST /holds/${hold.id}/approve → override event #${body.seq} (ref #${yellow.seq}); walked through`,
    });
    await pacer.pause();
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
    await pacer.pulse(chip, PIN.passage);
    lastPassageAt = performance.now();
    await pacer.until(() => store.outboxStats().lastSeq > before, 'the passage event');
    table.row({ tag: 'PASSAGE', reason: 'unexpected', what: 'someone pushes through with no pass', relay: drawRelay(relay, mark), latency: '', note: `passage event #${store.outboxStats().lastSeq} (tailgater or forced arm)` });
    await pacer.pause();
  }
  {
    const mark = relay.mark();
    const t0 = performance.now();
    chip.set(PIN.fireAlarm, 1); // the normally-closed alarm contact opens
    await pacer.until(() => relay.energised && controller.snapshot().phase === 'alarm', 'the gate to release on the fire alarm');
    const latency = relay.energisedSince(mark)!.atMs - t0;
    await pacer.sleep(20);
    table.row({ tag: 'ALARM', reason: 'fire alarm on', what: 'fire alarm contact opens', relay: drawRelay(relay, mark), latency: ms(latency), note: `gate released and held free; alarm event #${store.outboxStats().lastSeq}` });
    await pacer.pause();
    const mark2 = relay.mark();
    const t1 = performance.now();
    chip.set(PIN.fireAlarm, 0);
    await pacer.until(() => !relay.energised && controller.snapshot().phase === 'idle', 'the gate to lock again after the alarm');
    const latency2 = relay.lastChangeAt() - t1;
    await pacer.sleep(20);
    table.row({ tag: 'ALARM', reason: 'fire alarm off', what: 'fire alarm contact closes again', relay: drawRelay(relay, mark2), latency: ms(latency2), note: `gate locked, ready; alarm event #${store.outboxStats().lastSeq}` });
    await pacer.pause();
  }

  // The broker goes away: decisions go on offline and their events wait in the outbox.
  {
    await pacer.until(() => store.outboxStats().depth === 0, 'the outbox to drain', 10_000).catch(() => {}); // a clean start for the story
    const mark = relay.mark();
    await broker.suspend();
    await pacer.until(() => !link.connected, 'the gate to notice the broker is gone');
    table.row({ tag: 'OFFLINE', reason: 'broker gone', what: 'the broker goes away', relay: drawRelay(relay, mark), latency: '', note: `link offline; outbox ${store.outboxStats().depth}; decisions go on` });
    await pacer.pause();
    const offline = () => `offline; outbox ${store.outboxStats().depth} waiting`;
    await step('phone code · Zhejiang (offline)', qr(code('CN-330000', { maskedName: '孙*' }).text), { note: offline });
    await step('red phone code · Beijing (offline)', qr(code('CN-110000', { status: 3 }).text), { note: offline });
    await step('phone code · Guangdong (offline)', qr(code('CN-440000', { maskedName: '郑*' }).text), { note: offline });

    const waiting = store.outboxStats().depth;
    const back = relay.mark();
    const t0 = performance.now();
    await broker.resume();
    await pacer.until(() => link.connected, 'the gate to reconnect', 30_000);
    const reconnectMs = performance.now() - t0;
    const lastSeq = store.outboxStats().lastSeq;
    await pacer.until(() => store.outboxStats().depth === 0 && backend.cursor(GATE).upTo >= lastSeq, 'the outbox to drain', 30_000);
    table.row({
      tag: 'ONLINE',
      reason: 'reconnected',
      what: 'the broker comes back',
      relay: drawRelay(relay, back),
      latency: ms(reconnectMs),
      note: `outbox ${waiting} → 0; backend stored ${backend.storedCount(GATE)} = gate's last seq ${lastSeq}, ack upTo ${backend.cursor(GATE).upTo}`,
    });
    await pacer.pause();
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
    await pacer.until(() => stored() !== undefined, 'the command event at the backend');
    table.row({
      tag: 'CMD',
      reason: 'open ok',
      what: `signed open from the backend (ctr ${signed.ctr})`,
      relay: drawRelay(relay, mark),
      latency: ms(latency),
      note: `remote open by ops:demo; command event #${stored()!.seq} at the backend; walked through`,
    });
  }

  // --- summary -----------------------------------------------------------------------------------------

  const lastSeq = store.outboxStats().lastSeq;
  await pacer.until(() => store.outboxStats().depth === 0 && backend.cursor(GATE).upTo >= lastSeq, 'the outbox to drain', 30_000).catch(() => {});
  const requested = Date.now();
  await link.publishStatus();
  await pacer.until(() => (backend.gateStatus(GATE)?.tsMs ?? 0) >= requested, 'R/status at the backend', 5000).catch(() => {});

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
