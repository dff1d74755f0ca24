/**
 * The one test gate: a provisioned data directory in a temp dir, a federation, and a gate built by
 * compose (app/compose.ts) as the service builds it — in-memory GPIO, no scanners unless given, no
 * guard console unless asked. Without `mqtt` it decides at a fixed time (T0) with trust already
 * in place; with `mqtt` it has a GateLink to that broker (started by `link.start()` or
 * `gate.start()`) and the system clock, and its trust comes over MQTT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { FixedClock, SystemClock } from '../../device/clock.js';
import { parseConfig } from '../../device/config.js';
import type { Clock } from '../../device/core/ports.js';
import type { Verifier, LookupPort } from '../../device/verifier.js';
import type { Policy } from '../../device/core/types.js';
import type { ScanSource } from '../../device/service.js';
import type { CommandRunner } from '../../device/command-intake.js';
import type { GateLink } from '../../sync/gate-link.js';
import type { BrokerOptions } from '../../sync/connection.js';
import type { Logger } from '../../base/log.js';
import { compose, type ComposeOverrides, type Gate } from '../../app/compose.js';
import { Federation } from '../../scripts/lib/federation.js';
import { issueHp1, signEnvelope, type Hp1Claims } from '../../scripts/lib/issuer.js';
import type { GpioChip } from '../../drivers/gpio/line.js';

/** 2026-11-27T00:00:00Z: tests decide at fixed times. */
export const T0 = 1_795_737_600;

let shared: Federation | undefined;
/** Key generation (SM2 especially) is slow-ish: one federation serves every test in a file. */
export function sharedFederation(): Federation {
  return (shared ??= Federation.create());
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

/** A logger that keeps what it is told (set SYNC_TEST_LOG=1 to see it). */
export function memoryLogger(prefix = ''): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => {
    entries.push({ level, obj, msg });
    if (process.env.SYNC_TEST_LOG) process.stderr.write(`${prefix}${level} ${msg ?? ''} ${safeJson(obj)}\n`);
  };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function safeJson(o: object): string {
  try {
    return JSON.stringify(o, (_k, v) => (v instanceof Error ? v.message : v));
  } catch {
    return String(o);
  }
}

export interface GateOptions {
  fed?: Federation;
  /** A policy (version 1) ingested at once; without `mqtt` only. */
  policy?: Partial<Policy>;
  /** A fake online look-up for the verifier (without `mqtt`: with it, the link asks the backend). */
  lookup?: LookupPort;
  /** A GateLink to this broker; `site`/`gate` default to test-site/gate-1. */
  mqtt?: {
    brokerUrl: string;
    site?: string;
    gate?: string;
    broker?: Partial<BrokerOptions>;
    link?: ComposeOverrides['link'];
    /** Default: records each command in `runs` and does nothing. */
    runCommand?: CommandRunner;
  };
  inputs?: ScanSource[];
  gpioChip?: GpioChip;
  guardConsole?: boolean;
}

export interface TestGate<C extends Clock = FixedClock> {
  dir: string;
  fed: Federation;
  store: GateStore;
  /** Fixed at T0 without MQTT (tests move it), the system's with MQTT. */
  clock: C;
  verifier: Verifier;
  /** The composed gate (service, controller, bus …). */
  parts: Gate;
  /** The MQTT link (throws without `mqtt`). */
  link: GateLink;
  log: ReturnType<typeof memoryLogger>;
  /** Commands the default runner saw. */
  runs: { cmd: string; args: unknown }[];
  ingest(text: string): ReturnType<typeof ingestEnvelope>;
  code(issuer: string, c?: Partial<Hp1Claims>): { text: string; handle: string };
  /** Marks both lists fresh (a heartbeat delta each), as a synced gate would be. */
  freshLists(): void;
  close(): Promise<void>;
}

export function makeGate(o: GateOptions & { mqtt: NonNullable<GateOptions['mqtt']> }): Promise<TestGate<SystemClock>>;
export function makeGate(o?: GateOptions & { mqtt?: undefined }): Promise<TestGate<FixedClock>>;
export async function makeGate(o: GateOptions = {}): Promise<TestGate<Clock>> {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-test-'));
  const fed = o.fed ?? sharedFederation();
  const clock: Clock = o.mqtt ? new SystemClock(true) : new FixedClock(T0 * 1000);
  const store = GateStore.open(dir, { durability: 'normal' });
  const site = o.mqtt?.site ?? 'test-site';
  const gateId = o.mqtt?.gate ?? 'gate-1';
  store.initialise({ site, gate: gateId, roots: [fed.rootSpki()] });
  const ingest = (text: string) => ingestEnvelope(text, store, clock);
  if (!o.mqtt) {
    ingest(fed.trustEnvelope(1, T0 - 3600));
    if (o.policy) ingest(fed.policyEnvelope({ version: 1, ...o.policy }));
  }
  const log = memoryLogger(`[${gateId}] `);
  const runs: { cmd: string; args: unknown }[] = [];
  const config = parseConfig({
    dataDir: dir,
    durability: 'normal',
    logging: { level: 'silent' },
    gpio: { simulated: true, relay: { line: 17, activeLow: true } },
    guardConsole: { enabled: false },
    ...(o.mqtt ? { mqtt: { url: o.mqtt.brokerUrl } } : {}),
  });
  const parts = await compose(config, {
    store,
    clock,
    log,
    inputs: o.inputs ?? [],
    ...(o.gpioChip ? { gpioChip: o.gpioChip } : {}),
    ...(o.lookup ? { lookup: o.lookup } : {}),
    guardConsole: o.guardConsole ? { host: '127.0.0.1', port: 0 } : null,
    ...(o.mqtt
      ? {
          broker: { reconnect: { minMs: 100, maxMs: 1000 }, ...o.mqtt.broker },
          link: {
            softwareVersion: 'test',
            sync: { resyncMinIntervalMs: 200 },
            status: { minIntervalMs: 50 },
            runCommand: o.mqtt.runCommand ?? ((c) => void runs.push({ cmd: c.cmd, args: c.args })),
            ...o.mqtt.link,
          },
        }
      : {}),
  });
  const verifier = parts.verifier;
  return {
    dir,
    fed,
    store,
    clock,
    verifier,
    parts,
    get link(): GateLink {
      if (!parts.link) throw new Error('this test gate has no MQTT link (makeGate({ mqtt }))');
      return parts.link;
    },
    log,
    runs,
    ingest: (text) => {
      const r = ingest(text);
      verifier.reload();
      return r;
    },
    code: (issuer, c = {}) => issueHp1(fed.issuer(issuer), { iss: issuer, iat: T0 - 60, exp: T0 + 540, status: 1, kind: 'dynamic', ...c }),
    freshLists() {
      for (const list of ['tokens', 'holders'] as const) {
        const from = store.meta(list).version;
        ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from, to: from + 1, put: [], del: [] }));
      }
    },
    async close() {
      await parts.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
