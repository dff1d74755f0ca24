/**
 * A running simulated gate for the browser tests and the console bench: a real store, verifier and GateService with the
 * simulated serial scanner, the relay on an in-memory GPIO chip, and the guard console on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
import { Verifier } from '../../device/verifier.js';
import { GateService } from '../../device/service.js';
import { Relay } from '../../drivers/gpio/relay.js';
import { hashPassword } from '../../device/gate/guard-accounts.js';
import { MemoryGpio } from '../../drivers/gpio/line.js';
import type { GateSettings } from '../../device/gate/machine.js';
import { SimulatedScanner } from '../../drivers/serial-scanner/index.js';
import { Federation } from './federation.js';
import { issueHp1, signEnvelope, type Hp1Claims } from './issuer.js';

export const RELAY_LINE = 17;
const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface SimGate {
  url: string;
  port: number;
  store: GateStore;
  service: GateService;
  scanner: SimulatedScanner;
  chip: MemoryGpio;
  /** A signed HP1 code from Zhejiang (浙江省): status 1 green, 2 yellow, 3 red. */
  code(c?: Partial<Hp1Claims>): string;
  /** Relay pulses (rest → energised) seen since the start. */
  pulses(): number;
  /** Every level the gate set on the relay, with performance.now() (bench). */
  relayLog: { level: 'active' | 'inactive'; atMs: number }[];
  stop(): Promise<void>;
}

export async function startSimGate(o: { guard?: { name: string; password: string }; gate?: Partial<GateSettings>; maxConnections?: number } = {}): Promise<SimGate> {
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
  const verifier = new Verifier(store, clock);
  const chip = new MemoryGpio();
  const line = await Relay.open(chip, { line: RELAY_LINE, activeLow: true });
  const relayLog: SimGate['relayLog'] = [];
  const relay = {
    set: (level: 'active' | 'inactive', pulseMs?: number) => {
      relayLog.push({ level, atMs: performance.now() });
      return line.set(level, pulseMs);
    },
    health: () => line.health(),
  };
  const scanner = new SimulatedScanner({ name: 'scanner0' });
  const service = new GateService({
    store,
    clock,
    verifier,
    inputs: [scanner],
    relay,
    log: silent,
    ...(o.gate ? { gate: o.gate } : {}),
    guardConsole: { host: '127.0.0.1', port: 0, dataDir: '/var/lib/passgate', ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}) },
  });
  await service.start();
  const at = service.guardConsoleAddress()!;
  return {
    url: at.url,
    port: at.port,
    store,
    service,
    scanner,
    chip,
    relayLog,
    code: (c = {}) => issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: now - 60, exp: now + 3600, status: 1, kind: 'dynamic', ...c }).text,
    pulses: () => {
      // Active-low: 0 energises the coil.
      const w = chip.writes(RELAY_LINE);
      let n = 0;
      for (let i = 1; i < w.length; i++) if (w[i] === 0 && w[i - 1] === 1) n++;
      return n;
    },
    stop: async () => {
      await service.stop();
      await line.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
