/**
 * GateService with a real store, verifier and federation, and fake or simulated hardware: the order
 * "event committed, then relay", red codes, shutdown, failing drivers, the fire alarm, the guard path.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GateStore } from '../../device/store/store.js';
import { hashPassword } from '../../device/gate/guard-accounts.js';
import { signIn } from '../../scripts/lib/console-client.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { FixedClock } from '../../device/clock.js';
import { Verifier } from '../../device/verifier.js';
import { GateService, type DigitalInputPort, type GateServiceOptions, type ScanSource } from '../../device/service.js';
import { GateController } from '../../device/gate/controller.js';
import { EventRecorder } from '../../device/events.js';
import { createLogger } from '../../device/log.js';
import type { GateSettings, Level } from '../../device/gate/machine.js';
import type { Presented } from '../../device/core/types.js';
import { Federation } from '../../scripts/lib/federation.js';
import { issueHp1, signEnvelope } from '../../scripts/lib/issuer.js';
import { SimulatedScanner } from '../../drivers/serial-scanner/index.js';

const T0 = 1_795_737_600; // 2026-11-27T00:00:00Z
const ID_NUMBER = '11010519491231002X';

let fed: Federation;
let dir: string;
let store: GateStore;
let clock: FixedClock;
let verifier: Verifier;
/** One timeline for the outbox commits and the relay writes. */
let calls: string[];
let relayLevels: Level[];
let services: GateService[];

class FakeScanner extends EventEmitter implements ScanSource {
  constructor(readonly name = 'fake-scanner') {
    super();
  }
  scan(p: Presented): void {
    this.emit('scan', p, { driver: this.name, atMs: 0 });
  }
  state: 'connected' | 'reconnecting' = 'connected';
  health() {
    return { state: this.state, counters: {} };
  }
}

class FakeInput extends EventEmitter implements DigitalInputPort {
  constructor(public level: boolean) {
    super();
  }
  set(level: boolean): void {
    this.level = level;
    this.emit('change', level);
  }
  read(): boolean {
    return this.level;
  }
}

const relay = {
  set: (level: Level) => {
    relayLevels.push(level);
    calls.push(`relay:${level}`);
  },
};

const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A service around a gate controller on `relay` with `settings`, recording through the one recorder. */
function service(o: Partial<Omit<GateServiceOptions, 'gate'>> & { settings?: Partial<GateSettings> } = {}): GateService {
  const { settings, ...rest } = o;
  const recorder = new EventRecorder(store, clock);
  const gate = new GateController({ settings, relay: rest.relay ?? relay, record: (body) => recorder.record(body), now: rest.now ?? (() => clock.monoMs()), log: rest.log?.child?.({ mod: 'gate' }) ?? silent });
  const s = new GateService({ store, clock, verifier, inputs: [], relay, log: silent, gate, ...rest });
  services.push(s);
  return s;
}

function code(status: 1 | 2 | 3): string {
  return issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: T0 - 60, exp: T0 + 540, status, kind: 'dynamic' }).text;
}

function outbox() {
  return store.pendingEvents(0, 1000).map((r) => r.event);
}

beforeEach(() => {
  fed ??= Federation.create();
  dir = mkdtempSync(join(tmpdir(), 'passgate-service-'));
  store = GateStore.open(dir, { durability: 'normal' });
  clock = new FixedClock(T0 * 1000);
  store.initialise({ site: 'test-site', gate: 'gate-1', roots: [fed.rootSpki()] });
  ingestEnvelope(fed.trustEnvelope(1, T0 - 3600), store, clock);
  for (const list of ['tokens', 'holders'] as const) {
    ingestEnvelope(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from: 0, to: 1, put: [], del: [] }), store, clock);
  }
  verifier = new Verifier(store, clock);
  calls = [];
  relayLevels = [];
  services = [];
  const original = store.recordEvent.bind(store);
  vi.spyOn(store, 'recordEvent').mockImplementation((event, tsMs, opened) => {
    const seq = original(event, tsMs, opened);
    calls.push(`record:${String(event.type)}:${String(event.result ?? event.reason ?? '')}`);
    return seq;
  });
});

afterEach(async () => {
  for (const s of services) await s.stop();
  vi.restoreAllMocks();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('GateService', () => {
  it('releases the relay at construction, before start', () => {
    service();
    expect(calls).toEqual(['relay:inactive']);
  });

  it('green code: the decision event is committed BEFORE the relay first goes active', async () => {
    const scanner = new FakeScanner();
    const s = service({ inputs: [scanner] });
    await s.start();
    scanner.scan({ input: 'qr', text: code(1) });
    await vi.waitFor(() => expect(relayLevels).toContain('active'));
    const recorded = calls.indexOf('record:decision:open');
    expect(recorded).toBeGreaterThan(-1);
    expect(recorded).toBeLessThan(calls.indexOf('relay:active'));
    expect(outbox()).toEqual([expect.objectContaining({ type: 'decision', result: 'open', reason: 'OK', format: 'HP1', issuer: 'CN-330000' })]);
    // The pulse ends by itself after policy.pulseMs (300 ms).
    await vi.waitFor(() => expect(relayLevels.at(-1)).toBe('inactive'), { timeout: 2000 });
  });

  it('red code: deny recorded, no relay activity at all', async () => {
    const scanner = new FakeScanner();
    const s = service({ inputs: [scanner] });
    await s.start();
    scanner.scan({ input: 'qr', text: code(3) });
    await vi.waitFor(() => expect(outbox()).toHaveLength(1));
    expect(outbox()[0]).toMatchObject({ type: 'decision', result: 'deny', reason: 'STATUS_RED' });
    await new Promise((r) => setTimeout(r, 50));
    expect(relayLevels).toEqual(['inactive']);
  });

  it('a real simulated serial scanner drives the same path', async () => {
    const scanner = new SimulatedScanner();
    const s = service({ inputs: [scanner] });
    await s.start();
    await vi.waitFor(() => expect(scanner.health().state).toBe('connected'));
    await scanner.present(code(1));
    await vi.waitFor(() => expect(relayLevels).toContain('active'));
    expect(calls.indexOf('record:decision:open')).toBeLessThan(calls.indexOf('relay:active'));
  });

  it('shutdown releases the relay mid-pulse and stops acting on scans', async () => {
    const scanner = new FakeScanner();
    const s = service({ inputs: [scanner], settings: { failMode: 'secure' } });
    await s.start();
    scanner.scan({ input: 'qr', text: code(1) });
    await vi.waitFor(() => expect(relayLevels.at(-1)).toBe('active'));
    await s.stop();
    expect(relayLevels.at(-1)).toBe('inactive');
    const n = relayLevels.length;
    scanner.scan({ input: 'qr', text: code(1) });
    await new Promise((r) => setTimeout(r, 50));
    expect(relayLevels).toHaveLength(n);
    expect(scanner.listenerCount('scan')).toBe(0);
    await s.stop(); // idempotent
  });

  it('fail-safe: stop de-energises (frees the door), as a power cut would', async () => {
    const s = service({ settings: { failMode: 'safe' } });
    await s.start();
    expect(relayLevels.at(-1)).toBe('active');
    await s.stop();
    expect(relayLevels.at(-1)).toBe('inactive');
  });

  it('an exception in a driver handler does not crash the service', async () => {
    const scanner = new FakeScanner();
    let fail = true;
    const flaky = {
      verify: async (p: Presented, o?: { dryRun?: boolean }) => {
        if (fail) throw new Error('decoder exploded');
        return verifier.verify(p, o);
      },
      currentPolicy: () => verifier.currentPolicy(),
    };
    const errors: string[] = [];
    const s = service({ inputs: [scanner], verifier: flaky, log: { ...silent, error: (_o: object, m: string) => void errors.push(m) } });
    await s.start();
    scanner.scan({ input: 'qr', text: code(1) });
    scanner.emit('error', new Error('EIO: device unplugged')); // a Node-style driver error
    await vi.waitFor(() => expect(errors).toEqual(expect.arrayContaining(['scan could not be decided', 'driver error'])));
    expect(relayLevels).toEqual(['inactive']);

    // The same service goes on deciding and opening.
    fail = false;
    scanner.scan({ input: 'qr', text: code(1) });
    await vi.waitFor(() => expect(relayLevels).toContain('active'));
    expect(s.health().ok).toBe(true);
  });

  it('a relay that throws is reported unhealthy (watchdog stops), nothing crashes', async () => {
    const scanner = new FakeScanner();
    const s = service({
      inputs: [scanner],
      relay: {
        set: (level: Level) => {
          if (level === 'active') throw new Error('EIO: GPIO17');
          relayLevels.push(level);
        },
      },
    });
    await s.start();
    scanner.scan({ input: 'qr', text: code(1) });
    await vi.waitFor(() => expect(s.health().parts.relay!.ok).toBe(false));
    expect(s.health().watchdogOk).toBe(false);
  });

  it('fire alarm: already active at start → released before boot ever locks; events recorded', async () => {
    const alarm = new FakeInput(true); // active = alarm (the driver applies the contact's wiring)
    const s = service({ fireAlarm: alarm });
    await s.start();
    expect(s.gate.snapshot().phase).toBe('alarm');
    expect(relayLevels).toEqual(['inactive', 'active']);
    expect(outbox()).toEqual([expect.objectContaining({ type: 'alarm', active: true })]);
    alarm.set(false);
    expect(s.gate.snapshot().phase).toBe('idle');
    expect(relayLevels.at(-1)).toBe('inactive');
    expect(outbox().at(-1)).toMatchObject({ type: 'alarm', active: false });
  });

  it('passage input ends the pass and is recorded', async () => {
    const scanner = new FakeScanner();
    const passage = new FakeInput(false);
    const s = service({ inputs: [scanner], passage });
    await s.start();
    scanner.scan({ input: 'qr', text: code(1) });
    await vi.waitFor(() => expect(relayLevels).toContain('active'));
    passage.set(true);
    passage.set(false);
    expect(s.gate.snapshot().phase).toBe('idle');
    const [decision, pass] = store.pendingEvents(0, 10);
    expect(pass!.event).toMatchObject({ type: 'passage', outcome: 'passed', ref: decision!.seq });
  });

  it('yellow code → held → the signed-in guard approves over HTTP → override committed with that guard, then the pulse', async () => {
    const scanner = new FakeScanner();
    store.saveGuard('wang', await hashPassword('guard-password-1'), T0 * 1000);
    const s = service({ inputs: [scanner], guardConsole: { host: '127.0.0.1', port: 0 } });
    await s.start();
    const guard = await signIn(s.guardConsoleAddress()!.url, 'wang', 'guard-password-1');
    scanner.scan({ input: 'qr', text: code(2) });
    await vi.waitFor(() => expect(s.gate.holds()).toHaveLength(1));
    expect(relayLevels).toEqual(['inactive']);
    const { holds } = (await (await guard.get('/holds')).json()) as { holds: { id: string; reason: string }[] };
    expect(holds[0]!.reason).toBe('STATUS_YELLOW');
    const res = await guard.post(`/holds/${holds[0]!.id}/approve`, { actor: 'guard:someone-else', reason: 'ID checked in person' });
    expect(res.status).toBe(200);
    const events = store.pendingEvents(0, 10);
    expect(events.map((e) => e.event.type)).toEqual(['decision', 'override']);
    expect(events[1]!.event).toMatchObject({ reason: 'GUARD_APPROVED', actor: 'guard:wang', ref: events[0]!.seq, result: 'open', note: 'ID checked in person' });
    expect(calls.indexOf('record:override:open')).toBeLessThan(calls.indexOf('relay:active'));
  });

  it('manual open from the console: the override is recorded with the guard before the relay moves', async () => {
    store.saveGuard('wang', await hashPassword('guard-password-1'), T0 * 1000);
    const s = service({ guardConsole: { host: '127.0.0.1', port: 0 } });
    await s.start();
    const guard = await signIn(s.guardConsoleAddress()!.url, 'wang', 'guard-password-1');
    const res = await guard.post('/open', { reason: 'Stretcher / emergency', note: 'ward 3' });
    expect(res.status).toBe(200);
    const events = store.pendingEvents(0, 10).map((e) => e.event);
    expect(events).toEqual([expect.objectContaining({ type: 'override', result: 'open', manual: true, actor: 'guard:wang', note: 'Stretcher / emergency: ward 3' })]);
    expect(calls.indexOf('record:override:open')).toBeLessThan(calls.indexOf('relay:active'));
    // The console's status view comes from cheap reads of the same store.
    const st = s.consoleStatus();
    expect(st).toMatchObject({ site: 'test-site', gate: 'gate-1', outbox: { depth: 1 }, broker: null });
    expect(st.trust?.version).toBe(1);
  });

  it('aggregates driver health; a flapping scanner stops the watchdog only after the grace period', async () => {
    let now = 0;
    const scanner = new FakeScanner();
    const s = service({ inputs: [scanner], now: () => now, watchdogGraceMs: 60_000 });
    expect(s.health().watchdogOk).toBe(false); // not started
    await s.start();
    expect(s.health()).toMatchObject({ ok: true, watchdogOk: true });
    scanner.state = 'reconnecting';
    expect(s.health()).toMatchObject({ ok: false, watchdogOk: true });
    expect(s.health().parts['fake-scanner']).toMatchObject({ ok: false, critical: false, detail: 'reconnecting' });
    now = 60_000;
    expect(s.health().watchdogOk).toBe(false);
    scanner.state = 'connected';
    expect(s.health()).toMatchObject({ ok: true, watchdogOk: true });
    expect(s.status()).toMatchObject({ site: 'test-site', gate: { phase: 'idle' } });
  });

  it('logs decisions without ID numbers, names or scanned text', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ level: 'debug', output: 'journald' }, sink);
    const scanner = new FakeScanner();
    const s = service({ inputs: [scanner], log });
    await s.start();
    const text = code(1);
    scanner.scan({ input: 'qr', text });
    scanner.scan({ input: 'idcard', idNumber: ID_NUMBER, maskedName: '王*' });
    await vi.waitFor(() => expect(lines.filter((l) => l.includes('"msg":"decision"'))).toHaveLength(2));
    // Even a careless log call is caught by the redaction list.
    log.child({ mod: 'test' }).info({ idNumber: ID_NUMBER, presented: { text }, name: '王小明' }, 'careless');
    await new Promise((r) => setImmediate(r));
    const all = lines.join('');
    expect(all).not.toContain(ID_NUMBER);
    expect(all).not.toContain(text.slice(4, 40));
    expect(all).not.toContain('王');
    expect(all).toContain('"mod":"gate"');
  });
});

describe('app/main.ts refuses to start', () => {
  async function run(args: string[]): Promise<{ code: number | undefined; stderr: string; stdout: string }> {
    const { main } = await import('../../app/main.js');
    let stderr = '';
    let stdout = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw Object.assign(new Error('exit'), { exitCode: code });
    }) as never);
    try {
      await main(['node', 'main.js', ...args]);
      return { code: undefined, stderr, stdout };
    } catch (e) {
      if ((e as Error).message !== 'exit') throw e;
      return { code: (e as { exitCode?: number }).exitCode, stderr, stdout };
    } finally {
      exit.mockRestore();
      vi.mocked(process.stderr.write).mockRestore();
      vi.mocked(process.stdout.write).mockRestore();
    }
  }

  function configFile(content: unknown): string {
    const file = join(dir, 'config.json');
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  it('on a bad config, naming the field, with exit status 78', async () => {
    const r = await run(['--config', configFile({ gpio: { relay: { line: '17a', activeLow: true } } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('refusing to start: bad configuration');
    expect(r.stderr).toContain('config: /gpio/relay/line must be integer ≤ 1023 (got "17a")');
  });

  it('on a data directory that passgate init never provisioned', async () => {
    const empty = join(dir, 'not-a-gate');
    const r = await run(['--config', configFile({ dataDir: empty, logging: { level: 'silent' }, gpio: { simulated: true, relay: { line: 17, activeLow: true } } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`data directory ${empty} is not initialised: run \`passgate init --data-dir ${empty}`);
    expect(existsSync(empty)).toBe(false); // not created behind the technician's back
  });

  it('--check accepts a good config and a provisioned data directory', async () => {
    const r = await run(['--config', configFile({ dataDir: dir, gpio: { simulated: true, relay: { line: 17, activeLow: true } } }), '--check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('is valid');
  });
});
