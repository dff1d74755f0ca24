/**
 * `npm run bench`: runs every benchmark and writes BENCHMARKS.md with the machine it ran on.
 * BENCH_10M=1 adds the 10M-entry look-up run (several minutes, ~1 GB of disk).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, totalmem, release, platform, arch } from 'node:os';
import { benchCore, type CoreBench, type MaxLatencyBench } from './core.js';
import { benchSm2 } from './sm2.js';
import { benchDrivers } from './drivers.js';
import { ID_READ_WIRE_MS_115200 } from './serial-lib.js';
import { benchCamera } from './camera.js';
import { benchGate } from './gate.js';
import { benchSync } from './sync.js';
import { benchUplink } from './uplink.js';
import { startMosquitto } from '../backend/mosquitto.js';
import { benchConsole } from './console.js';
import { benchMemory, unitEnvironment, unitNodeFlags, type MemoryBench } from './memory.js';

/**
 * A section of the report. Collects garbage first (the bench runs with --expose-gc): the decision
 * core's million-entry arrays would otherwise be collected during, and distort, the latency runs after it.
 */
const section = (title: string, body: string) => {
  (globalThis as { gc?: () => void }).gc?.();
  return `## ${title}\n\n${body.trim()}\n`;
};
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

function machine(): string {
  const cpu = cpus();
  return [
    `- CPU: ${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${platform()} ${release()} ${arch()}`,
    `- Node: ${process.version}`,
    `- Date: ${new Date().toISOString()}`,
  ].join('\n');
}

function coreTables(c: CoreBench): string {
  const head = `Decisions run the whole pure pipeline (Base45, COSE, signature, claims, a ${c.listEntries.toLocaleString('en')}-entry tokens list look-up, anti-passback look-up, policy) on one core; bare verify is the signature check alone on the same code in the same run. Targets: decision p99 ≤ 3× bare verify p99; ≥ 8,000 ES256 decisions/s (latency from individually timed calls, throughput from an untimed loop).`;
  const t1 = [
    row(['alg', 'decision p50 µs', 'decision p99 µs', 'decisions/s', 'bare verify p50 µs', 'bare p99 µs', 'bare/s', 'decision p99 ÷ bare p99']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...c.algorithms.map((a) => row([a.alg, a.decision.p50Us, a.decision.p99Us, a.decision.perSec, a.bareVerify.p50Us, a.bareVerify.p99Us, a.bareVerify.perSec, a.p99Ratio])),
  ].join('\n');
  const t2 = [
    row(['alg', 'durable (synchronous=FULL) p50 µs', 'p99 µs', '/s', 'crash-safe only (NORMAL) p50 µs', 'p99 µs', '/s']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...c.algorithms.map((a) => row([a.alg, a.durableCommit.p50Us, a.durableCommit.p99Us, a.durableCommit.perSec, a.normalCommit.p50Us, a.normalCommit.p99Us, a.normalCommit.perSec])),
  ].join('\n');
  const lists = [
    `- ${c.listEntries.toLocaleString('en')}-entry delta, verified and applied in one transaction (sorted inserts): **${c.deltaApplySeconds} s** (target ≤ 5 s)`,
    `- tokens look-up at ${c.lookup.entries.toLocaleString('en')} entries: p50 ${c.lookup.p50Us} µs, p99 ${c.lookup.p99Us} µs`,
    c.lookup10M
      ? `- tokens look-up at 10,000,000 entries (loaded in ${c.lookup10M.loadSeconds} s), 100,000 known keys: first pass after the load p50 ${c.lookup10M.firstPass.p50Us} µs, p99 ${c.lookup10M.firstPass.p99Us} µs; same keys again p50 ${c.lookup10M.secondPass.p50Us} µs, p99 **${c.lookup10M.secondPass.p99Us} µs** (target p99 ≤ 20 µs)`
      : '- 10M-entry look-up: not run (opt-in: `BENCH_10M=1 npm run bench`)',
  ].join('\n');
  return `${head}\n\n${t1}\n\nThe same decisions through the service, each committed to the outbox before it returns. With WAL, \`synchronous=FULL\` fsyncs every commit, so a recorded event survives a power cut; \`NORMAL\` survives a process crash only. The gate uses FULL.\n\n${t2}\n\n${lists}`;
}

/** In a child process: a gate's start finds nothing warmed by the sections before. */
function maxLatencySection(): string {
  const only = fileURLToPath(new URL('./only.js', import.meta.url));
  const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', only, 'max-latency'], { encoding: 'utf8', maxBuffer: 1 << 20 })) as MaxLatencyBench;
  const keys = Object.entries(r.keys).map(([k, n]) => `${n} ${k}`).join(', ');
  return [
    `${r.decisions.toLocaleString('en')} decisions from a gate's start, round-robin over HP1 ES256, EdDSA, SM2, HC1 and ID cards and over every key (${keys}), so each key's first uses are inside the run; latency as the gate records it. Target: no decision over 20 ms.`,
    `- trust bundle compiled at start (keys checked; the SM2 tables are built after it, one per event-loop turn, and until then a key verifies the textbook way): ${r.trustCompileMs} ms`,
    `- wall time: p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, max **${(r.maxUs / 1000).toFixed(1)} ms**, ${r.over20Ms} over 20 ms`,
    `- CPU time of the process over each decision (without what the machine gave other processes): p50 ${r.cpu.p50Us} µs, p99 ${r.cpu.p99Us} µs, max **${(r.cpu.maxUs / 1000).toFixed(1)} ms**, ${r.cpu.over20Ms} over 20 ms`,
    `- slowest (wall): ${r.slowest.map((s) => `${s.kind} #${s.position} ${(s.us / 1000).toFixed(1)} ms`).join(', ')}`,
    '- run alone: `npm run build && node --expose-gc dist/scripts/bench/only.js max-latency`',
  ].join('\n');
}

/** Needs a mosquitto binary (the tests' too); without one the section says so instead of failing the run. */
async function syncSection(): Promise<string> {
  console.error('sync …');
  let broker;
  try {
    broker = await startMosquitto();
  } catch (e) {
    return `Not run: mosquitto could not be started (${(e as Error).message}).`;
  }
  try {
    const u = await benchUplink(broker.url);
    const uplink = `- event committed → its PUBLISH at the broker (decisions paced 15 ms apart): p50 ${u.p50Ms} ms, p99 **${u.p99Ms} ms**, max ${u.maxMs} ms over ${u.samples} events (target p99 ≤ 20 ms)`;
    const r = await benchSync(broker.url);
    return [
      uplink,
      `- 1,000,000-entry tokens snapshot published, received, verified, staged and swapped: **${r.snapshot1MSeconds.toFixed(1)} s** (target ≤ 30 s)`,
      `- one delta reaching 1,000 gate clients (simulated in one process): **${r.deltaTo1000ClientsSeconds.toFixed(2)} s** (target ≤ 2 s)`,
      `- outbox drain after an outage, gate to backend with acks: **${r.outboxDrainEventsPerSec.toLocaleString('en')} events/s** (target ≥ 5,000)`,
    ].join('\n');
  } finally {
    await broker.dispose();
  }
}

const CONSOLE_TITLE = 'Guard console under 2,000 hostile connections (loopback)';

async function consoleSection(): Promise<string> {
  console.error('guard console under attack …');
  const r = await benchConsole();
  const line = (name: string, p: typeof r.quiet) =>
    row([name, p.decisionP50Ms, p.decisionP99Ms, p.decisionMaxMs, `${p.pulseMs.min}–${p.pulseMs.max}`, p.consoleP50Ms, p.consoleP99Ms, p.signInMs, `${p.loopDelayP99Ms} / ${p.loopDelayMaxMs}`, p.gateFds]);
  return [
    `A simulated gate (real store with durable commits, verifier, gate machine, simulated scanner and GPIO) and its console; a separate process keeps 2,000 connections to the console open (half slowloris: a request line, then one header byte a second; half idle), reopening whatever is closed. Decision: red code on the scanner → event recorded; pulse: relay active → released for a ${r.policyPulseMs} ms policy pulse; console: a signed-in guard's \`GET /holds\`; sign-in: a fresh connection and a password check (scrypt).`,
    '',
    row(['', 'decision p50 ms', 'p99 ms', 'max ms', 'relay pulse ms', 'console p50 ms', 'p99 ms', 'sign-in ms', 'event-loop delay p99 / max ms', "gate's open fds (max)"]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    line('quiet', r.quiet),
    line('**2,000 hostile connections**', r.attacked),
    '',
    `- hostile connections opened during the run: ${r.attacked.hostileOpened.toLocaleString('en')}; the console held at most ${r.attacked.consoleConnectionsMax} at once (limit 128), evicted ${r.attacked.evicted.toLocaleString('en')} that never signed in, refused ${r.attacked.refused.toLocaleString('en')}`,
    `- load average when the run ended: ${loadavg().map((l) => l.toFixed(1)).join(', ')} on ${cpus().length} cores (every timer, the relay's included, waits for the event loop: its delay is the figure to compare)`,
    '- run alone: `npm run bench -- console` (rewrites this section only)',
  ].join('\n');
}

function memoryText(gates: MemoryBench[]): string {
  const mb = (mib: number) => `${mib} MiB (${Math.round(mib * 1.048576)} MB)`;
  const name = (m: MemoryBench) => (m.guardConsole ? 'hospital gate (guard console on)' : 'metro gate (no console)');
  const first = gates[0]!;
  return [
    `The service as systemd runs it (\`${Object.entries(unitEnvironment()).map(([k, v]) => `${k}=${v}`).join(' ')} node ${unitNodeFlags().join(' ')} dist/app/main.js\`, the unit's environment and flags): a serial scanner on a socat pty, simulated GPIO, MQTT connected to mosquitto with no backend, so nothing is ever acknowledged; with and without the guard console (no browser signed in). Codes are scanned every 2 ms. Each gate is run twice; every column shows the higher of the two. RSS is the process's VmRSS; peak is VmHWM, the most it ever had resident, start included. Targets: RSS ≤ 100 MB throughout; start to ready ≤ 1.5 s.`,
    '',
    row(['', 'start → ready', 'RSS at ready', 'idle (5 s)', `after ${first.scans.toLocaleString('en')} scans`, `after ${(first.scans * 5).toLocaleString('en')} scans`, '**peak**']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...gates.map((m) => row([name(m), `${m.startToReadyMs} ms`, `${m.rssReadyMiB} MiB`, `${m.rssIdleMiB} MiB`, `${m.rssAfterScansMiB} MiB`, `${m.rssAfterMoreScansMiB} MiB`, `**${mb(m.rssPeakMiB)}**`])),
    '',
    `- events waiting for an ack after the scans: ${gates.map((m) => `${m.eventsWaiting.toLocaleString('en')} then ${m.eventsWaitingAtEnd.toLocaleString('en')}`).join('; ')} (a decision and a relay event per scan)`,
    '- run alone: `npm run bench -- memory` (rewrites this section only)',
  ].join('\n');
}

/**
 * Both gates, one after the other (never at once: each is measured alone), each run twice and the
 * higher figure of the two kept in every column: RSS differs by a few MB from run to run with when V8
 * and SQLite happen to grow.
 */
async function memoryGates(): Promise<MemoryBench[]> {
  const worst = (a: MemoryBench, b: MemoryBench): MemoryBench => {
    const out = { ...a };
    for (const k of ['startToReadyMs', 'rssReadyMiB', 'rssIdleMiB', 'rssAfterScansMiB', 'rssAfterMoreScansMiB', 'rssPeakMiB'] as const) out[k] = Math.max(a[k], b[k]);
    return out;
  };
  const gates: MemoryBench[] = [];
  for (const guardConsole of [false, true]) gates.push(worst(await benchMemory({ guardConsole }), await benchMemory({ guardConsole })));
  return gates;
}

/** Replaces one section of an existing BENCHMARKS.md (a run of only that section). */
function replaceSection(title: string, text: string): void {
  let doc = '';
  try {
    doc = readFileSync('BENCHMARKS.md', 'utf8');
  } catch {
    /* a new file */
  }
  const body = section(title, text);
  const at = doc.indexOf(`## ${title}`);
  if (at < 0) doc = `${doc.trimEnd()}\n\n${body}`;
  else {
    const next = doc.indexOf('\n## ', at + 3);
    doc = `${doc.slice(0, at)}${body}${next < 0 ? '' : doc.slice(next)}`;
  }
  writeFileSync('BENCHMARKS.md', doc);
}

const MEMORY_TITLE = 'Memory and start-up (the service process)';

async function main(): Promise<void> {
  if (process.argv.includes('memory')) {
    console.error('memory …');
    const text = memoryText(await memoryGates());
    console.log(text);
    replaceSection(MEMORY_TITLE, text);
    console.error('BENCHMARKS.md: memory section written');
    return;
  }
  if (process.argv.includes('console')) {
    replaceSection(CONSOLE_TITLE, await consoleSection());
    console.error('BENCHMARKS.md: console section written');
    return;
  }
  const parts: string[] = ['# Benchmarks\n', 'Written by `npm run bench`. Figures from one run; the machine matters more than the digits.\n', section('Machine', machine())];
  console.error('decision core …');
  parts.push(section('Decision core', coreTables(await benchCore({ tenMillion: process.env.BENCH_10M === '1' }))));
  console.error('worst decision from start (fresh process) …');
  parts.push(section('Worst decision from start', maxLatencySection()));
  console.error('SM2 …');
  const sm2 = benchSm2();
  parts.push(
    section(
      'SM2/SM3 (JavaScript, GB/T 32918.2)',
      `- verify with a cached public key: **${sm2.verifyPerSec.toLocaleString('en')}/s** (target ≥ 2,000/s; its table is built in the background after trust is loaded; a key without one yet: ${sm2.naiveVerifyPerSec.toLocaleString('en')}/s)\n- sign: ${sm2.signPerSec.toLocaleString('en')}/s`,
    ),
  );
  console.error('drivers …');
  const d = await benchDrivers();
  parts.push(
    section(
      'Drivers (socat pty pair)',
      `- code line written → scan emitted: p50 ${d.ptyLineToScanP50Ms} ms, p99 ${d.ptyLineToScanP99Ms} ms\n` +
        `- last byte of the ID-card read reply → scan emitted: p50 ${d.idFrameToScanP50Ms} ms, p99 ${d.idFrameToScanP99Ms} ms ` +
        `(the 1295-byte reply itself takes ${ID_READ_WIRE_MS_115200.toFixed(1)} ms on the wire at 115200 baud: the physical floor)`,
    ),
  );
  console.error('gate path …');
  const g = await benchGate();
  const stage = (name: string, b: { p50Ms: number; p99Ms: number }) => `${name} ${b.p50Ms}/${b.p99Ms}`;
  parts.push(
    section(
      'Gate path: input → relay (socat pty, real drivers, durable outbox commit, gate machine, relay line)',
      `- code line written on the pty → relay's first active write: p50 ${g.ptyLineToRelayP50Ms} ms, p99 **${g.ptyLineToRelayP99Ms} ms** (target p99 ≤ 5 ms)\n` +
        `- last byte of the ID-card read reply → relay: p50 ${g.idFrameToRelayP50Ms} ms, p99 **${g.idFrameToRelayP99Ms} ms** (target p99 ≤ 5 ms), on top of the ${g.idReadWireMs115200} ms the reply takes on the wire at 115200 baud\n` +
        `- where it goes, p50/p99 ms — code: ${(['transport', 'decide', 'commit', 'gate'] as const).map((k) => stage(k, g.breakdown.line[k])).join(', ')}; ` +
        `ID card: ${(['transport', 'decide', 'commit', 'gate'] as const).map((k) => stage(k, g.breakdown.id[k])).join(', ')}. The commit's tail is the disk's fsync.\n` +
        `- ${g.samples} samples per path`,
    ),
  );
  console.error('camera …');
  const c = await benchCamera();
  parts.push(
    section(
      'Camera and QR images (sharp greyscale, ZXing-C++ as WebAssembly)',
      `- EU DCC test-vector PNGs: decode rate ${(c.pngDecodeRate * 100).toFixed(0)} %, median ${c.pngMedianMs} ms per image\n` +
        `- noisy 640×480 frames with a code: decode rate ${(c.noisyFrameDecodeRate * 100).toFixed(0)} %, median **${c.noisyFrameMedianMs} ms** (target ≤ 25 ms)\n` +
        `- noisy 640×480 frames without a code (a gate's idle state): median ${c.emptyFrameMedianMs} ms`,
    ),
  );
  parts.push(section('Fleet sync (MQTT, mosquitto on loopback)', await syncSection()));
  parts.push(section(CONSOLE_TITLE, await consoleSection()));
  console.error('memory …');
  parts.push(section(MEMORY_TITLE, memoryText(await memoryGates())));
  writeFileSync('BENCHMARKS.md', parts.join('\n'));
  console.error('BENCHMARKS.md written');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
