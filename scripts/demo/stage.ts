/**
 * The demo's stage: a throwaway data directory provisioned as `passgate init` would, a fresh
 * federation, an embedded broker, the reference backend publishing trust, policy and lists, and
 * the gate — built by compose (app/compose.ts) from a config validated like
 * /etc/passgate/config.json, with the simulated twins selected and an in-memory GPIO chip the demo
 * watches. The ID card goes through the real GA/T 467 reader driver.
 *
 * `setUp` returns what the story needs; `Stage.shutdown` stops whatever got started, relay first.
 */
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../device/gate/guard-accounts.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { GateStore } from '../../device/store/store.js';
import { parseConfig } from '../../device/config.js';
import { createLogger } from '../../device/log.js';
import { SimulatedScanner } from '../../drivers/serial-scanner/index.js';
import { SimulatedIdCardReader, type CardFields } from '../../drivers/idcard/index.js';
import { compose, type Gate } from '../../app/compose.js';
import { Federation } from '../lib/federation.js';
import { holderHandleOf, issueHp1, type Hp1Claims } from '../lib/issuer.js';
import { MemoryGpio, RelayProbe } from '../../drivers/gpio/index.js';
import { ReferenceBackend } from '../backend/reference-backend.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../backend/embedded-broker.js';
import { bold, dim, ms, say } from './table.js';
import { VerdictWatch, settle, type Pacer } from './watch.js';

export const SITE = 'metro-line-2';
export const GATE = 'north-07';
/** BCM lines of the (simulated) wiring. */
export const PIN = { relay: 17, passage: 27, fireAlarm: 22, green: 5, red: 6, amber: 13, buzzer: 19 } as const;

// Synthetic cards (valid check digits except the misread one). Their numbers are never printed.
export const CARD_GREEN: CardFields = { name: '李四', idNumber: '11010519491231002X' };
export const CARD_MISREAD: CardFields = { name: '李四', idNumber: '110105194912310021' };
export const CARD_ONLINE: CardFields = { name: '陈静', idNumber: '440524188001010014' };

/** What the story plays with. */
/** The demo guard and a password fresh each run (printed with --serve). */
export const DEMO_GUARD = 'demo';
export const DEMO_GUARD_PASSWORD = randomBytes(9).toString('base64url');

export interface Scene {
  fed: Federation;
  /** Epoch seconds at set-up. */
  now: number;
  backend: ReferenceBackend;
  broker: EmbeddedBroker;
  gate: Gate;
  chip: MemoryGpio;
  relay: RelayProbe;
  decisions: VerdictWatch;
  scanner: SimulatedScanner;
  reader: SimulatedIdCardReader;
  consoleUrl: string;
  /** An HP1 code of `issuer`, valid now, green unless `c` says otherwise. */
  code(issuer: string, c?: Partial<Hp1Claims>): { text: string; handle: string };
  /** A code the backend revoked (its token handle is in the tokens list). */
  revoked: { text: string; handle: string };
}

/** Everything the demo starts, so that shutdown can stop whatever got started. */
export class Stage {
  readonly dir = mkdtempSync(join(tmpdir(), 'passgate-demo-'));
  broker?: EmbeddedBroker;
  backend?: ReferenceBackend;
  gate?: Gate;
  chip?: MemoryGpio;
  log?: ReturnType<typeof createLogger>;

  constructor(private readonly o: { verbose: boolean; pacer: Pacer }) {}

  async setUp(): Promise<Scene> {
    const { pacer } = this.o;
    say(bold('passgate demo — a simulated gate, a broker and a backend in one process') + dim('  (Ctrl-C stops it cleanly)'));
    say();

    // 1. A fresh federation and a provisioned data directory (`passgate init`).
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const dataDir = join(this.dir, 'gate');
    const init = GateStore.open(dataDir);
    init.initialise({ site: SITE, gate: GATE, roots: [fed.rootSpki()] });
    init.saveGuard(DEMO_GUARD, await hashPassword(DEMO_GUARD_PASSWORD), Date.now()); // passgate guard add
    init.close();
    say(`  data dir    ${this.dir} ${dim('(removed at the end)')}`);
    say(`  federation  root ${fed.root.alg} ${fed.root.kid.slice(0, 8)}…; issuers ${[...fed.issuers.values()].map((i) => `${i.id} ${i.name} (${i.key.alg})`).join(', ')}`);
    say(`  init        gate ${SITE}/${GATE}, federation root pinned`);

    // 2. The broker and the backend, which publishes trust, policy and lists.
    const broker = (this.broker = await startEmbeddedBroker());
    const backend = (this.backend = new ReferenceBackend({ brokerUrl: broker.url, federation: fed, site: SITE, dbPath: join(this.dir, 'backend.sqlite') }));
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

    // 3. The gate, built by compose as the service builds it, from a config with the simulated twins.
    const config = parseConfig({
      dataDir,
      durability: 'normal',
      clock: { trusted: 'system' }, // a simulated gate trusts the host's clock
      logging: { level: this.o.verbose ? 'info' : 'error' },
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
    const log = (this.log = createLogger(config.logging, pino.destination({ dest: 2, sync: true })));
    const chip = (this.chip = new MemoryGpio());
    const watch: { decisions?: VerdictWatch } = {};
    const gate = (this.gate = await compose(config, {
      log,
      gpioChip: chip,
      // A real gate listens on config.guardConsole.port (8088); the demo takes any free loopback port.
      guardConsole: { host: config.guardConsole.host, port: 0 },
      verifier: (v) => (watch.decisions = new VerdictWatch(v, pacer)),
      restart: (why) => say(dim(`  (the backend asked for a restart: ${why}; the demo carries on)`)),
    }));
    const scanner = gate.inputs.find((i): i is SimulatedScanner => i instanceof SimulatedScanner)!;
    const reader = gate.inputs.find((i): i is SimulatedIdCardReader => i instanceof SimulatedIdCardReader)!;
    const relay = new RelayProbe(chip, PIN.relay, config.gpio.relay.activeLow);
    const started = performance.now();
    await gate.start();
    const link = gate.link!;
    const store = gate.store;
    const consoleAt = gate.service.guardConsoleAddress();
    const consoleUrl = consoleAt?.url ?? '';
    say(
      `  gate        serial scanner and ID-card reader (GA/T 467 driver ⇄ fake SAM over a virtual serial link); ` +
        `in-memory GPIO: relay ${PIN.relay} (active-low), passage ${PIN.passage}, fire alarm ${PIN.fireAlarm}, LEDs ${PIN.green}/${PIN.red}/${PIN.amber}, buzzer ${PIN.buzzer}`,
    );
    say(`  console     guard console on ${consoleUrl}/`);
    await pacer.until(
      () => link.connected && store.document('trust') !== null && gate.verifier.currentPolicy().version === 1 && store.meta('tokens').version === 1 && store.meta('holders').version === 1,
      'the gate to sync trust, policy and lists over MQTT',
      20_000,
    );
    say(`  link        connected (MQTT ${link.protocolVersion === 5 ? '5' : '3.1.1'}); trust, policy and lists arrived over MQTT in ${ms(performance.now() - started)}`);
    return { fed, now, backend, broker, gate, chip, relay, decisions: watch.decisions!, scanner, reader, consoleUrl, code, revoked };
  }

  /** Stops whatever was started, relay first; each part on its own so one failure does not skip the rest. */
  async shutdown(): Promise<void> {
    const done: string[] = [];
    const attempt = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`demo: ${what} failed: ${(e as Error).message}\n`);
      }
    };
    const { gate, chip, backend, broker, log } = this;
    if (gate) await attempt('stopping the gate', () => gate.stop()); // relay safe first, link offline, GPIO closed, store closed
    if (chip?.level(PIN.relay) === 1) done.push(`relay released (GPIO ${PIN.relay} high: coil at rest)`);
    if (backend && gate && (await settle(() => backend.gateState(GATE)?.state === 'offline', 3000))) done.push('link offline (the backend saw it)');
    if (backend) await attempt('stopping the backend', () => backend.stop());
    if (broker) await attempt('closing the broker', async () => (await broker.close(), done.push('broker closed')));
    log?.flush();
    rmSync(this.dir, { recursive: true, force: true });
    if (!existsSync(this.dir)) done.push('data dir removed');
    say(dim(`  shutdown: ${done.join(', ')}`));
  }

  /** Ctrl-C twice: the relay safe at once. */
  releaseNow(): void {
    this.gate?.releaseNow();
  }
}
