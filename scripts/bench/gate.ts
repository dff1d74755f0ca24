/**
 * End-to-end gate latency over a socat pty pair with the real serialport binding (needs `socat`):
 * the whole path from bytes on the wire to the relay, through a gate built by compose as the service
 * builds it (real store with the durable outbox commit, `synchronous=FULL`; real verifier; real gate
 * controller and machine; drivers/gpio's `Relay` on an in-memory GPIO line, watched by drivers/gpio's `RelayProbe`).
 *
 * - ptyLine: a code line written on the device side of the pty → `SerialScanner` → verifier.verify()
 *   (decision committed) → gate machine → the relay line's first active write.
 * - idFrame: the last byte of a `30 01` read reply (1295 bytes, written by the fake SAM reader) →
 *   `IdCardReader` → verifier (holders list look-up) → gate machine → the relay's first active write.
 *
 * Every sample is a distinct green credential (anti-passback stays on), and each pass is completed
 * by a passage-sensor pulse as soon as the relay opens, so no sample waits for a timeout. A pty moves
 * bytes at memory speed; a real UART adds the wire time, reported beside as a floor:
 * 1295 bytes × 10 bits / 115200 baud. `breakdown` splits each path at the driver's `scan` event and
 * around the outbox commit, to show where the milliseconds go.
 */
import { ID_READ_WIRE_MS_115200, closePort, openDevice, percentile, roundMs, withTimeout } from './serial-lib.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SerialPortStream } from '@serialport/stream';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { SystemClock } from '../../device/clock.js';
import type { ScanSource } from '../../device/service.js';
import { parseConfig } from '../../device/config.js';
import { checkDigit } from '../../device/core/idcard.js';
import { compose } from '../../app/compose.js';
import { MemoryGpio, RelayProbe } from '../../drivers/gpio/index.js';
import { FakeSamReader } from '../../drivers/idcard/fake-reader.js';
import { IdCardReader } from '../../drivers/idcard/reader.js';
import { loadSystemSerialBinding, type BindingInterface } from '../../drivers/serial/binding.js';
import { streamEndpoint } from '../../drivers/serial/endpoint.js';
import { PtyPair } from '../../drivers/serial/pty-pair.js';
import { SerialScanner } from '../../drivers/serial-scanner/scanner.js';
import type { WireEntry } from '../../device/core/lists.js';
import { Federation } from '../lib/federation.js';
import { holderHandleOf, issueHp1, signEnvelope } from '../lib/issuer.js';

/** p50/p99 of one stage, ms. */
export interface StageStats {
  p50Ms: number;
  p99Ms: number;
}

/** Where one path's time goes: wire → driver `scan` → commit start → commit end → relay. */
export interface PathBreakdown {
  /** Bytes written on the device side (the line / the read reply's last byte) → the driver's `scan` event. */
  transport: StageStats;
  /** `scan` → the outbox commit begins: service dispatch, the pure decision, the event built. */
  decide: StageStats;
  /** The durable outbox commit (WAL, synchronous=FULL: an fsync). */
  commit: StageStats;
  /** Commit done → the relay line's active write: the await resuming, the gate machine, LineRelay. */
  gate: StageStats;
}

export interface GateBench {
  ptyLineToRelayP50Ms: number;
  ptyLineToRelayP99Ms: number;
  idFrameToRelayP50Ms: number;
  idFrameToRelayP99Ms: number;
  /** Wire time of a 1295-byte read reply at 115200 8N1: the floor a real UART adds to idFrame. */
  idReadWireMs115200: number;
  /** Measured samples per path (after warm-up). */
  samples: number;
  breakdown: { line: PathBreakdown; id: PathBreakdown };
}

const RELAY_LINE = 17;
const PASSAGE_LINE = 27;
const ISSUER = 'CN-330000'; // ES256, the common algorithm

interface Sample {
  t0: number;
  scanAt: number;
  commitStart: number;
  commitEnd: number;
  relayAt: number;
}

export async function benchGate(o: { samples?: number } = {}): Promise<GateBench> {
  const samples = Math.max(1, Math.floor(o.samples ?? 300));
  const warmup = Math.min(30, Math.max(3, Math.floor(samples / 10)));
  const total = samples + warmup;
  const binding = await loadSystemSerialBinding();
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-gate-'));
  let store: GateStore | null = null;
  try {
    const fed = Federation.create();
    const clock = new SystemClock(true);
    const now = Math.floor(Date.now() / 1000);
    store = GateStore.open(dir); // durability: full (the gate's default)
    const cards = Array.from({ length: total }, (_, i) => ({ name: `测试${i}`, idNumber: idNumber(i) }));
    provision(store, fed, clock, now, cards.map((c) => c.idNumber));
    const probe = new CommitProbe(store);
    const codes = Array.from({ length: total }, () => issueHp1(fed.issuer(ISSUER), { iss: ISSUER, iat: now - 60, exp: now + 600, status: 1, kind: 'dynamic' }).text);

    const line = await benchLines(binding, { dir, store }, probe, codes, warmup);
    const id = await benchIdCards(binding, { dir, store }, probe, cards, warmup);
    const e2e = (s: Sample[]) => s.map((x) => x.relayAt - x.t0);
    return {
      ptyLineToRelayP50Ms: roundMs(percentile(e2e(line), 0.5)),
      ptyLineToRelayP99Ms: roundMs(percentile(e2e(line), 0.99)),
      idFrameToRelayP50Ms: roundMs(percentile(e2e(id), 0.5)),
      idFrameToRelayP99Ms: roundMs(percentile(e2e(id), 0.99)),
      idReadWireMs115200: roundMs(ID_READ_WIRE_MS_115200),
      samples,
      breakdown: { line: breakdown(line), id: breakdown(id) },
    };
  } finally {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- the gate ------------------------------------------------------------------------------------

/** Trust, a 50 ms pulse policy, a fresh (empty) tokens list and a holders list of green holders. */
function provision(store: GateStore, fed: Federation, clock: SystemClock, now: number, ids: string[]): void {
  store.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
  const ingest = (text: string) => ingestEnvelope(text, store, clock);
  ingest(fed.trustEnvelope(1, now - 3600));
  ingest(fed.policyEnvelope({ version: 1, pulseMs: 50 })); // anti-passback stays at its default
  ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'tokens', from: 0, to: 1, put: [], del: [] }));
  const put: WireEntry[] = ids.map((id) => [holderHandleOf(fed.holderKey, id), 1, now - 60, now + 86400]);
  ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'holders', from: 0, to: 1, put, del: [] }));
}

/**
 * Times the outbox commit of each decision by wrapping the store's recordEvent (synchronous), and
 * fails the sample at once if a decision is not `open`.
 */
class CommitProbe {
  last: { start: number; end: number } | null = null;
  onRefused: ((why: string) => void) | null = null;

  constructor(store: GateStore) {
    const record = store.recordEvent.bind(store);
    store.recordEvent = (event, tsMs, opened) => {
      const start = performance.now();
      const seq = record(event, tsMs, opened);
      if (event.type === 'decision') {
        this.last = { start, end: performance.now() };
        if (event.result !== 'open') this.onRefused?.(`${String(event.result)} ${String(event.reason)}`);
      }
      return seq;
    };
  }
}

/** A provisioned data directory and its open store. */
interface Provisioned {
  dir: string;
  store: GateStore;
}

/** The relay (active-high board: active = pin 1) watched, and the passage contact the bench opens. */
interface Hardware {
  /** Resolves when the relay next opens; `fail` rejects it at once (a decision that was not `open`). */
  next(timeoutMs: number, what: string): { at: Promise<number>; fail: (why: string) => void };
  /** The commuter walks through: the pass ends and the gate is idle again. */
  passage(): Promise<void>;
}

/** The gate as compose builds it from a config, around one input; short pulses, an instant passage. */
async function withGate<T>({ dir, store }: Provisioned, input: ScanSource, run: (hw: Hardware) => Promise<T>): Promise<T> {
  const config = parseConfig({
    dataDir: dir,
    clock: { trusted: 'system' }, // a simulated gate trusts the host's clock
    logging: { level: 'silent' },
    gpio: { simulated: true, failMode: 'secure', relay: { line: RELAY_LINE, activeLow: false }, passage: { line: PASSAGE_LINE, normallyClosed: false, pull: 'down', debounceMs: 0 } },
    gate: { passageDebounceMs: 0, busy: 'refuse' },
    guardConsole: { enabled: false },
  });
  const chip = new MemoryGpio();
  const relay = new RelayProbe(chip, RELAY_LINE, config.gpio.relay.activeLow);
  const gate = await compose(config, { store, inputs: [input], gpioChip: chip });
  const hw: Hardware = {
    next: (timeoutMs, what) => relay.nextEnergised(timeoutMs, what),
    async passage() {
      chip.set(PASSAGE_LINE, 1);
      chip.set(PASSAGE_LINE, 0);
      await waitFor(() => gate.controller.snapshot().phase === 'idle', 2000, 'the gate idle after the passage');
    },
  };
  try {
    await gate.start();
    return await run(hw);
  } finally {
    await gate.stop();
    relay.close();
  }
}

// --- the two paths -------------------------------------------------------------------------------

async function benchLines(binding: BindingInterface, gateAt: Provisioned, probe: CommitProbe, codes: string[], warmup: number): Promise<Sample[]> {
  const pair = new PtyPair();
  let device: SerialPortStream | null = null;
  try {
    await pair.start();
    const scanner = new SerialScanner({ binding, path: pair.a, presenceCheckMs: 0, name: 'scanner0' });
    let scanAt = 0;
    scanner.on('scan', (_s, meta) => (scanAt = meta.atMs));
    return await withGate(gateAt, scanner, async (hw) => {
      await waitFor(() => scanner.health().state === 'connected', 5000, 'scanner port open');
      device = await openDevice(binding, pair.b);
      const out: Sample[] = [];
      for (let i = 0; i < codes.length; i++) {
        const opened = hw.next(2000, `code line ${i}`);
        probe.onRefused = opened.fail;
        const t0 = performance.now();
        device.write(`]Q1${codes[i]!}\r\n`);
        const relayAt = await opened.at;
        await hw.passage(); // the pass ends: relay back to rest, gate idle
        if (i >= warmup) out.push({ t0, scanAt, commitStart: probe.last!.start, commitEnd: probe.last!.end, relayAt });
        await sleep(1);
      }
      return out;
    });
  } finally {
    probe.onRefused = null;
    if (device) await closePort(device);
    await pair.dispose();
  }
}

async function benchIdCards(
  binding: BindingInterface,
  gateAt: Provisioned,
  probe: CommitProbe,
  cards: { name: string; idNumber: string }[],
  warmup: number,
): Promise<Sample[]> {
  const pair = new PtyPair();
  let device: SerialPortStream | null = null;
  let fake: FakeSamReader | null = null;
  try {
    await pair.start();
    device = await openDevice(binding, pair.b);
    const sam = (fake = new FakeSamReader(streamEndpoint(device), { splitLastByte: true }));
    let finds = 0;
    sam.on('request', (r) => {
      if (r === 'find') finds++;
    });
    const reader = new IdCardReader({ binding, path: pair.a, pollIntervalMs: 5, absentPolls: 1, repeatHoldMs: 0, checkSamOnOpen: false, presenceCheckMs: 0, name: 'idreader' });
    let scanAt = 0;
    reader.on('scan', (_s, meta) => (scanAt = meta.atMs));
    return await withGate(gateAt, reader, async (hw) => {
      await waitFor(() => finds > 0, 5000, 'card reader polling');
      const out: Sample[] = [];
      for (let i = 0; i < cards.length; i++) {
        const lastByte = new Promise<number>((resolve) => {
          const onReply = (r: { command: string; lastByteAtMs: number }) => {
            if (r.command !== 'readText') return;
            sam.off('reply', onReply);
            resolve(r.lastByteAtMs);
          };
          sam.on('reply', onReply);
        });
        const opened = hw.next(3000, `ID card ${i}`);
        probe.onRefused = opened.fail;
        sam.present(cards[i]!);
        const relayAt = await opened.at;
        await hw.passage();
        const t0 = await withTimeout(lastByte, 1000, 'read reply');
        if (i >= warmup) out.push({ t0, scanAt, commitStart: probe.last!.start, commitEnd: probe.last!.end, relayAt });
        // Card off; wait until the reader has certainly polled an empty field (absentPolls: 1).
        sam.remove();
        const seen = finds;
        await waitFor(() => finds >= seen + 3, 2000, 'card removal seen');
      }
      return out;
    });
  } finally {
    probe.onRefused = null;
    fake?.close();
    if (device) await closePort(device);
    await pair.dispose();
  }
}

// --- helpers -------------------------------------------------------------------------------------

/** A valid resident ID number (GB 11643 check digit), distinct for each i < 28 000. */
function idNumber(i: number): string {
  const month = 1 + (Math.floor(i / 1000) % 12);
  const day = 1 + Math.floor(i / 12_000);
  const first17 = `110105` + `1990` + String(month).padStart(2, '0') + String(day).padStart(2, '0') + String(i % 1000).padStart(3, '0');
  return first17 + checkDigit(first17);
}

function breakdown(s: Sample[]): PathBreakdown {
  const stat = (f: (x: Sample) => number): StageStats => {
    const v = s.map(f);
    return { p50Ms: roundMs(percentile(v, 0.5)), p99Ms: roundMs(percentile(v, 0.99)) };
  };
  return {
    transport: stat((x) => x.scanAt - x.t0),
    decide: stat((x) => x.commitStart - x.scanAt),
    commit: stat((x) => x.commitEnd - x.commitStart),
    gate: stat((x) => x.relayAt - x.commitEnd),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`benchmark: no ${what} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

