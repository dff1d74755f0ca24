/**
 * A running simulated gate for the browser tests and the console bench, built by compose as the
 * service builds one: a real store and verifier, the simulated serial scanner, the relay on an
 * in-memory GPIO chip (watched by the twin's RelayProbe), and the guard console on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
import { parseConfig } from '../../device/config.js';
import type { GateService } from '../../device/service.js';
import { hashPassword } from '../../device/gate/guard-accounts.js';
import { MemoryGpio } from '../../drivers/gpio/line.js';
import { RelayProbe } from '../../drivers/gpio/probe.js';
import { SimulatedScanner } from '../../drivers/serial-scanner/index.js';
import { compose, type Gate } from '../../app/compose.js';
import { SILENT } from '../../base/log.js';
import { Federation } from './federation.js';
import { issueHp1, signEnvelope, type Hp1Claims } from './issuer.js';

export const RELAY_LINE = 17;

export interface SimGate {
  url: string;
  port: number;
  store: GateStore;
  parts: Gate;
  service: GateService;
  scanner: SimulatedScanner;
  chip: MemoryGpio;
  /** The relay line as the twin sees it: pulses and their lengths. */
  relay: RelayProbe;
  /** A signed HP1 code from Zhejiang (浙江省): status 1 green, 2 yellow, 3 red. */
  code(c?: Partial<Hp1Claims>): string;
  /** Relay pulses (rest → energised → rest) since the start. */
  pulses(): number;
  stop(): Promise<void>;
}

export async function startSimGate(o: { guard?: { name: string; password: string }; maxConnections?: number } = {}): Promise<SimGate> {
  const fed = Federation.create();
  const dir = mkdtempSync(join(tmpdir(), 'passgate-browser-'));
  const store = GateStore.open(dir, { durability: 'normal' });
  const clock = new SystemClock(true);
  const now = Math.floor(Date.now() / 1000);
  store.initialise({ site: 'city-hospital', gate: 'east-01', roots: [fed.rootSpki()] });
  ingestEnvelope(fed.trustEnvelope(1, now - 3600), store, clock);
  for (const list of ['tokens', 'holders'] as const) {
    ingestEnvelope(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from: 0, to: 1, put: [], del: [] }), store, clock);
  }
  if (o.guard) store.saveGuard(o.guard.name, await hashPassword(o.guard.password), Date.now());
  const chip = new MemoryGpio();
  const scanner = new SimulatedScanner({ name: 'scanner0' });
  const config = parseConfig({
    dataDir: dir,
    durability: 'normal',
    clock: { trusted: 'system' },
    logging: { level: 'silent' },
    gpio: { simulated: true, relay: { line: RELAY_LINE, activeLow: true } },
    guardConsole: { enabled: false },
  });
  const parts = await compose(config, {
    store,
    clock,
    log: SILENT,
    inputs: [scanner],
    gpioChip: chip,
    guardConsole: { host: '127.0.0.1', port: 0, dataDir: '/var/lib/passgate', ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}) },
  });
  const relay = new RelayProbe(chip, RELAY_LINE, true);
  await parts.start();
  const at = parts.service.guardConsoleAddress()!;
  return {
    url: at.url,
    port: at.port,
    store,
    parts,
    service: parts.service,
    scanner,
    chip,
    relay,
    code: (c = {}) => issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: now - 60, exp: now + 3600, status: 1, kind: 'dynamic', ...c }).text,
    pulses: () => relay.pulsesSince(0).length,
    stop: async () => {
      await parts.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
