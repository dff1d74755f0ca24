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
import { base45Decode } from '../../device/core/base45.js';
import { decodeCoseSign1 } from '../../device/core/cose.js';
import { HP1_LIMITS } from '../../device/core/hp1.js';
import { Federation } from '../lib/federation.js';
import { issueHp1, signEnvelope } from '../lib/issuer.js';
import type { WireEntry } from '../../device/core/lists.js';

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
