/**
 * Decision-core benchmarks: decision latency and throughput per algorithm against a 1M-entry tokens
 * list, beside bare signature verification in the same run; the durable outbox commit; 1M-entry
 * delta apply; list look-up latency (10M entries with BENCH_10M=1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { Verifier } from '../../device/verifier.js';
import { FixedClock } from '../../device/clock.js';
import { evaluate } from '../../device/core/decide.js';
import { sigStructure } from '../../device/core/cose.js';
import { base45Decode, base45Encode } from '../../device/core/base45.js';
import { decodeCoseSign1 } from '../../device/core/cose.js';
import { HP1_LIMITS } from '../../device/core/hp1.js';
import { Federation } from '../lib/federation.js';
import { generateKey, holderHandleOf, issueHp1, keyEntry, signEnvelope, trustBundle } from '../lib/issuer.js';
import { dccSigner, dscEntry, issueDcc } from '../lib/dcc.js';
import { checkDigit } from '../../device/core/idcard.js';
import type { WireEntry } from '../../device/core/lists.js';
import type { Presented } from '../../device/core/types.js';

export interface Percentiles {
  p50Us: number;
  p99Us: number;
  perSec: number;
}

export interface CoreBench {
  listEntries: number;
  deltaApplySeconds: number;
  algorithms: { alg: string; decision: Percentiles; bareVerify: Percentiles; p99Ratio: number; durableCommit: Percentiles; normalCommit: Percentiles }[];
  lookup: { entries: number; p50Us: number; p99Us: number };
  lookup10M?: { entries: number; loadSeconds: number; firstPass: Percentiles; secondPass: Percentiles };
}

/** Latency percentiles from individually timed calls; throughput from a separate untimed loop. */
export function measure(n: number, fn: (i: number) => void, warmUp = 200): Percentiles {
  for (let i = 0; i < Math.min(warmUp, n); i++) fn(i); // JIT, caches, lazy tables
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn(i);
    samples[i] = (performance.now() - t) * 1000;
  }
  const start = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  const totalS = (performance.now() - start) / 1000;
  samples.sort();
  return { p50Us: round(samples[Math.floor(n * 0.5)]!), p99Us: round(samples[Math.floor(n * 0.99)]!), perSec: Math.round(n / totalS) };
}

const round = (x: number) => Math.round(x * 10) / 10;
/** Available when the bench runs with --expose-gc (npm run bench does). */
const collectGarbage = () => (globalThis as { gc?: () => void }).gc?.();
const key = (i: number) => i.toString(16).padStart(8, '0') + randomBytes(12).toString('hex');

export async function benchCore(o: { entries?: number; decisions?: number; tenMillion?: boolean } = {}): Promise<CoreBench> {
  const entries = o.entries ?? 1_000_000;
  const decisions = o.decisions ?? 5000;
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-'));
  try {
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const clock = new FixedClock(now * 1000);
    const store = GateStore.open(dir);
    store.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
    ingestEnvelope(fed.trustEnvelope(1, now), store, clock);
    // Anti-passback off: the same code is decided thousands of times.
    ingestEnvelope(fed.policyEnvelope({ version: 1, antiPassbackSeconds: 0 }), store, clock);

    const { deltaApplySeconds, sample: hits } = applyBigDelta(fed, store, clock, entries, now);

    const verifier = new Verifier(store, clock);
    const ctx = verifier.context();
    // A running gate has its SM2 tables a few event-loop turns after start (the verifier builds them
    // one per turn); this loop never yields, so build them here, before measuring.
    for (const build of ctx.trust!.pendingTables()) build();
    const algorithms = [];
    for (const issuer of fed.issuers.values()) {
      const { text } = issueHp1(issuer.key, { iss: issuer.id, iat: now - 10, exp: now + 600, status: 1, kind: 'dynamic' });
      const cose = decodeCoseSign1(base45Decode(text.slice(4))!, HP1_LIMITS);
      const tbs = sigStructure(cose.protectedBytes, cose.payload);
      const trustedKey = ctx.trust!.keysByKid.get(issuer.key.kid)![0]!;
      const decision = measure(decisions, () => {
        const out = evaluate({ input: 'qr', text }, ctx);
        if (out.kind !== 'decided' || out.decision.result !== 'open') throw new Error('bench code did not open');
      });
      const bareVerify = measure(decisions, () => {
        if (!trustedKey.verify(tbs, cose.signature)) throw new Error('bench signature did not verify');
      });
      const commits = (durability: 'full' | 'normal') => {
        const d2 = mkdtempSync(join(tmpdir(), 'passgate-bench-commit-'));
        const s2 = GateStore.open(d2, { durability });
        s2.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
        ingestEnvelope(fed.trustEnvelope(1, now), s2, clock);
        const v2 = new Verifier(s2, clock);
        for (const build of v2.context().trust!.pendingTables()) build(); // as a running gate has them
        const r = measureAsync(Math.min(decisions, 2000), () => v2.verify({ input: 'qr', text }));
        return r.finally(() => {
          s2.close();
          rmSync(d2, { recursive: true, force: true });
        });
      };
      const durableCommit = await commits('full');
      const normalCommit = await commits('normal');
      algorithms.push({ alg: issuer.key.alg, decision, bareVerify, p99Ratio: round(decision.p99Us / bareVerify.p99Us), durableCommit, normalCommit });
    }
    // A gate looks keys up all day: measure the steady state, after 10,000 look-ups have warmed the
    // caches, and without the bench's own million-entry garbage being collected in the middle.
    collectGarbage();
    const lookup = measure(100_000, (i) => store.entry('tokens', hits[(i * 7919) % hits.length]!), 10_000);
    store.close();
    const result: CoreBench = { listEntries: entries, deltaApplySeconds, algorithms, lookup: { entries, p50Us: lookup.p50Us, p99Us: lookup.p99Us } };
    if (o.tenMillion) result.lookup10M = bench10M(dir, fed, now);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Signs and ingests one delta of `entries` keys, timing verify + apply. Returns a sample of the keys
 * only, so the million-entry arrays are garbage before the latency runs (a large live heap slows GC).
 */
function applyBigDelta(fed: Federation, store: GateStore, clock: FixedClock, entries: number, now: number) {
  const put: WireEntry[] = Array.from({ length: entries }, (_, i) => [key(i), 0, now, now + 86400]);
  const sample = put.filter((_, i) => i % 10 === 0).map((e) => e[0]);
  const delta = signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'tokens', from: 0, to: 1, put, del: [] });
  const t = process.hrtime.bigint();
  ingestEnvelope(delta, store, clock);
  return { deltaApplySeconds: round(Number(process.hrtime.bigint() - t) / 1e9), sample };
}

async function measureAsync(n: number, fn: () => Promise<unknown>): Promise<Percentiles> {
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const totalS = Number(process.hrtime.bigint() - start) / 1e9;
  samples.sort((a, b) => a - b);
  return { p50Us: round(samples[Math.floor(n * 0.5)]!), p99Us: round(samples[Math.floor(n * 0.99)]!), perSec: Math.round(n / totalS) };
}

/** 10M entries in 10 sorted 1M deltas, then random look-ups of known keys. Long: opt-in. */
function bench10M(parent: string, fed: Federation, now: number) {
  const dir = join(parent, 'ten-million');
  const clock = new FixedClock(now * 1000);
  const store = GateStore.open(dir, { durability: 'normal' });
  store.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
  ingestEnvelope(fed.trustEnvelope(1, now), store, clock);
  const sample: string[] = [];
  const t = process.hrtime.bigint();
  for (let b = 0; b < 10; b++) {
    const put: WireEntry[] = Array.from({ length: 1_000_000 }, (_, i) => [key(b * 1_000_000 + i), 0, now, now + 86400]);
    for (let i = 0; i < put.length; i += 100) sample.push(put[i]![0]);
    store.applyDelta({ list: 'tokens', from: b, to: b + 1, put, del: [] }, now * 1000);
  }
  const loadSeconds = round(Number(process.hrtime.bigint() - t) / 1e9);
  collectGarbage();
  // The first pass touches each key's pages for the first time since the load; the second is the
  // steady state of a gate that has been answering for a while. Both are reported: they differ.
  const lookupAll = () => measure(100_000, (i) => store.entry('tokens', sample[(i * 7919) % sample.length]!), 0);
  const firstPass = lookupAll();
  const secondPass = lookupAll();
  store.close();
  return { entries: 10_000_000, loadSeconds, firstPass, secondPass };
}

export interface MaxLatencyBench {
  decisions: number;
  keys: Record<string, number>;
  /** Time to compile the trust bundle (key checks, SM2 tables) when the gate loads it. */
  trustCompileMs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** Decisions over 20 ms. */
  over20Ms: number;
  /**
   * The same from the process's CPU time (user + system) over each decision: what the gate's own
   * work cost, without the time the machine gave to other processes (wall time includes it).
   */
  cpu: { p50Us: number; p99Us: number; maxUs: number; over20Ms: number; slowest: { kind: string; position: number; us: number }[] };
  /** The five slowest decisions: what was decided and at which position in the run. */
  slowest: { kind: string; position: number; us: number }[];
  /** Per kind of decision: p50, p99 and max µs. */
  byKind: Record<string, { p50Us: number; p99Us: number; maxUs: number }>;
}

/**
 * The worst decision from a gate's start: a fresh trust bundle with many keys per algorithm is
 * loaded, then `decisions` mixed decisions (HP1 ES256, EdDSA, SM2, HC1 ES256/PS256, ID cards) run
 * round-robin over every key, so each key's first uses are inside the run. Each decision's latency
 * is the one the gate records (`latencyUs`). Run it in a fresh process (`bench/only.ts max-latency`)
 * so that nothing before it has warmed what a starting gate would find cold. Decisions follow one
 * another with no event-loop turn between them (the worst case: the verifier's background SM2
 * table builds never run, so every SM2 decision takes the textbook path); `turns` lets one turn pass
 * before each decision, as for a gate whose codes arrive by I/O.
 */
export async function benchMaxLatency(o: { decisions?: number; keysPerAlg?: number; sm2Keys?: number; turns?: boolean } = {}): Promise<MaxLatencyBench> {
  const decisions = o.decisions ?? 10_000;
  const perAlg = o.keysPerAlg ?? 8;
  const sm2Keys = o.sm2Keys ?? 16;
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-latency-'));
  try {
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const clock = new FixedClock(now * 1000);
    const hp1 = [
      ...Array.from({ length: perAlg }, (_, i) => ({ id: `ES-${i}`, key: generateKey('ES256').key })),
      ...Array.from({ length: perAlg }, (_, i) => ({ id: `ED-${i}`, key: generateKey('EdDSA').key })),
      ...Array.from({ length: sm2Keys }, (_, i) => ({ id: `SM-${i}`, key: generateKey('SM2SM3').key })),
    ];
    const dsc = [dccSigner('ES256', 'AT', 1), dccSigner('ES256', 'AT', 2), dccSigner('PS256', 'DE', 3), dccSigner('PS256', 'DE', 4)];
    const bundle = trustBundle({
      version: 1,
      issuedAt: now - 60,
      expiresAt: now + 86400,
      issuers: [
        ...hp1.map((i) => ({ id: i.id, name: i.id, keys: [keyEntry(i.key)] })),
        { id: 'AT', name: 'Austria', formats: ['HC1' as const], keys: dsc.filter((s) => s.alg === -7).map(dscEntry) },
        { id: 'DE', name: 'Germany', formats: ['HC1' as const], keys: dsc.filter((s) => s.alg === -37).map(dscEntry) },
      ],
      signers: { policy: [fed.policySigner], lists: [fed.listSigner], commands: [fed.commandSigner] },
      holderKey: fed.holderKey,
    });
    const setup = GateStore.open(dir, { durability: 'normal' });
    setup.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
    ingestEnvelope(signEnvelope(fed.root, 'passgate-trust+json', bundle), setup, clock);
    ingestEnvelope(fed.policyEnvelope({ version: 1, antiPassbackSeconds: 0, unknownHolder: 'open' }), setup, clock);
    // ID numbers: valid check digits, half of them listed green.
    const ids = Array.from({ length: 64 }, (_, i) => {
      const first17 = `110105${1950 + i}0101${String(100 + i).slice(-3)}`;
      return first17 + checkDigit(first17);
    });
    const listed: WireEntry[] = ids.filter((_, i) => i % 2 === 0).map((id) => [holderHandleOf(fed.holderKey, id), 1, now, now + 86400]);
    ingestEnvelope(signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'holders', from: 0, to: 1, put: listed, del: [] }), setup, clock);
    ingestEnvelope(signEnvelope(fed.listSigner, 'passgate-list+json', { list: 'tokens', from: 0, to: 1, put: [], del: [] }), setup, clock);
    setup.close();

    const codes = (n: number, make: (j: number) => string) => Array.from({ length: n }, (_, j) => make(j));
    const byKind: Record<string, string[][]> = {
      ES256: hp1.filter((i) => i.key.alg === 'ES256').map((i) => codes(4, () => issueHp1(i.key, { iss: i.id, iat: now - 10, exp: now + 3600, status: 1, kind: 'dynamic' }).text)),
      EdDSA: hp1.filter((i) => i.key.alg === 'EdDSA').map((i) => codes(4, () => issueHp1(i.key, { iss: i.id, iat: now - 10, exp: now + 3600, status: 1, kind: 'dynamic' }).text)),
      SM2SM3: hp1.filter((i) => i.key.alg === 'SM2SM3').map((i) => codes(4, () => issueHp1(i.key, { iss: i.id, iat: now - 10, exp: now + 3600, status: 1, kind: 'dynamic' }).text)),
      HC1: dsc.map((s) => codes(4, (j) => issueDcc(s, { iss: s.alg === -7 ? 'AT' : 'DE', iat: now - 10, exp: now + 86400, uci: `URN:UVCI:01:AT:${s.kid}${j}` }))),
    };
    const kinds = ['ES256', 'EdDSA', 'SM2SM3', 'HC1', 'IDCARD'] as const;

    // The gate starts: a fresh store handle, so trust is compiled here, as at start-up.
    collectGarbage();
    const t0 = performance.now();
    const store = GateStore.open(dir, { durability: 'normal' });
    const verifier = new Verifier(store, clock);
    const trustCompileMs = round(performance.now() - t0);

    const samples = new Float64Array(decisions);
    const cpuSamples = new Float64Array(decisions);
    const slowCpu: { kind: string; position: number; us: number }[] = [];
    const slow: { kind: string; position: number; us: number }[] = [];
    const seen = new Map<string, number>();
    const perKind = new Map<string, number[]>();
    for (let i = 0; i < decisions; i++) {
      const kind = kinds[i % kinds.length]!;
      const round_ = seen.get(kind) ?? 0;
      seen.set(kind, round_ + 1);
      let presented: Presented;
      if (kind === 'IDCARD') presented = { input: 'idcard', idNumber: ids[round_ % ids.length]! };
      else {
        const keys = byKind[kind]!;
        const perKey = keys[round_ % keys.length]!;
        presented = { input: 'qr', text: perKey[Math.floor(round_ / keys.length) % perKey.length]! };
      }
      if (o.turns) await new Promise((resolve) => setImmediate(resolve));
      const cpu0 = process.cpuUsage();
      const { decision, latencyUs } = await verifier.verify(presented, { dryRun: true });
      const cpuUsed = process.cpuUsage(cpu0);
      cpuSamples[i] = cpuUsed.user + cpuUsed.system;
      slowCpu.push({ kind, position: i, us: cpuSamples[i]! });
      if (slowCpu.length > 50) slowCpu.sort((a, b) => b.us - a.us).splice(5);
      if (decision.result !== 'open') throw new Error(`bench ${kind} decision ${decision.result} ${decision.reason} ${decision.detail ?? ''}`);
      samples[i] = latencyUs;
      (perKind.get(kind) ?? perKind.set(kind, []).get(kind)!).push(latencyUs);
      slow.push({ kind, position: i, us: latencyUs });
      if (slow.length > 50) slow.sort((a, b) => b.us - a.us).splice(5);
    }
    store.close();
    const sorted = Float64Array.from(samples).sort();
    return {
      decisions,
      keys: { ES256: perAlg, EdDSA: perAlg, SM2SM3: sm2Keys, 'HC1 ES256': 2, 'HC1 PS256': 2 },
      trustCompileMs,
      p50Us: sorted[Math.floor(decisions * 0.5)]!,
      p99Us: sorted[Math.floor(decisions * 0.99)]!,
      maxUs: sorted[decisions - 1]!,
      over20Ms: samples.filter((us) => us > 20_000).length,
      slowest: slow.sort((a, b) => b.us - a.us).slice(0, 5),
      cpu: (() => {
        const c = Float64Array.from(cpuSamples).sort();
        return {
          p50Us: c[Math.floor(decisions * 0.5)]!,
          p99Us: c[Math.floor(decisions * 0.99)]!,
          maxUs: c[decisions - 1]!,
          over20Ms: cpuSamples.filter((us) => us > 20_000).length,
          slowest: slowCpu.sort((a, b) => b.us - a.us).slice(0, 5),
        };
      })(),
      byKind: Object.fromEntries(
        [...perKind].map(([k, v]) => {
          v.sort((a, b) => a - b);
          return [k, { p50Us: v[Math.floor(v.length * 0.5)]!, p99Us: v[Math.floor(v.length * 0.99)]!, maxUs: v[v.length - 1]! }];
        }),
      ),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A trust bundle naming one SM2 key `copies` times under its kid (an attack on a gate that tries
 * every key with a kid, §1): how many keys the gate kept, and how long one badly signed code with
 * that kid takes to decide.
 */
export function benchKidFlood(copies = 9_997): { copies: number; keysKept: number; keysLeftOut: number; ingestMs: number; badCodeMs: number; reason: string } {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-bench-kid-'));
  try {
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const clock = new FixedClock(now * 1000);
    const key = generateKey('SM2SM3').key;
    const bundle = trustBundle({
      version: 1,
      issuedAt: now - 60,
      expiresAt: now + 86400,
      // At most 1,000 keys per issuer (schema): the copies are spread over as many issuers as needed.
      issuers: Array.from({ length: Math.ceil(copies / 1000) }, (_, i) => ({
        id: i === 0 ? 'CN-440000' : `CN-44000${i}`,
        name: 'flood',
        keys: Array.from({ length: Math.min(1000, copies - i * 1000) }, () => keyEntry(key)),
      })),
      signers: { policy: [fed.policySigner], lists: [fed.listSigner], commands: [fed.commandSigner] },
      holderKey: fed.holderKey,
    });
    const store = GateStore.open(dir, { durability: 'normal' });
    store.initialise({ site: 'bench', gate: 'g', roots: [fed.rootSpki()] });
    const t0 = performance.now();
    const r = ingestEnvelope(signEnvelope(fed.root, 'passgate-trust+json', bundle), store, clock);
    const ingestMs = round(performance.now() - t0);
    const verifier = new Verifier(store, clock);
    const { text } = issueHp1(key, { iss: 'CN-440000', iat: now - 10, exp: now + 600, status: 1, kind: 'dynamic' });
    const bytes = base45Decode(text.slice(4))!;
    bytes[bytes.length - 1]! ^= 1; // the signature's last byte
    const bad = `HP1:${base45Encode(bytes)}`;
    const t1 = performance.now();
    const ctx = verifier.context();
    const out = evaluate({ input: 'qr', text: bad }, ctx);
    const badCodeMs = round(performance.now() - t1);
    store.close();
    const kept = ctx.trust!.keysByKid.get(key.kid)?.length ?? 0;
    return { copies, keysKept: kept, keysLeftOut: r.typ === 'passgate-trust+json' ? r.skippedKeys.length : 0, ingestMs, badCodeMs, reason: out.kind === 'decided' ? out.decision.reason : out.kind };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
