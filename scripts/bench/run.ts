/**
 * `npm run bench`: runs every benchmark and writes BENCHMARKS.md with the machine it ran on.
 * BENCH_10M=1 adds the 10M-entry look-up run (several minutes, ~1 GB of disk).
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem, release, platform, arch } from 'node:os';
import { benchCore, type CoreBench } from './core.js';
import { benchSm2 } from './sm2.js';

const section = (title: string, body: string) => `## ${title}\n\n${body.trim()}\n`;
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
  const head = `Decisions run the whole pure pipeline (Base45, COSE, signature, claims, a ${c.listEntries.toLocaleString('en')}-entry tokens list look-up, anti-passback look-up, policy) on one core; bare verify is the signature check alone on the same code in the same run.`;
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
    `- ${c.listEntries.toLocaleString('en')}-entry delta, verified and applied in one transaction (sorted inserts): **${c.deltaApplySeconds} s**`,
    `- tokens look-up at ${c.lookup.entries.toLocaleString('en')} entries: p50 ${c.lookup.p50Us} µs, p99 ${c.lookup.p99Us} µs`,
    c.lookup10M
      ? `- tokens look-up at 10,000,000 entries (loaded in ${c.lookup10M.loadSeconds} s): p50 ${c.lookup10M.p50Us} µs, p99 **${c.lookup10M.p99Us} µs**`
      : '- 10M-entry look-up: not run (opt-in: `BENCH_10M=1 npm run bench`)',
  ].join('\n');
  return `${head}\n\n${t1}\n\nThe same decisions through the service, each committed to the outbox before it returns. With WAL, \`synchronous=FULL\` fsyncs every commit, so a recorded event survives a power cut; \`NORMAL\` survives a process crash only. The gate uses FULL.\n\n${t2}\n\n${lists}`;
}

async function main(): Promise<void> {
  const parts: string[] = ['# Benchmarks\n', 'Written by `npm run bench`. Figures from one run; the machine matters more than the digits.\n', section('Machine', machine())];
  console.error('decision core …');
  parts.push(section('Decision core', coreTables(await benchCore({ tenMillion: process.env.BENCH_10M === '1' }))));
  console.error('SM2 …');
  const sm2 = benchSm2();
  parts.push(section('SM2/SM3 (JavaScript, GB/T 32918.2)', `- verify with a cached public key: **${sm2.verifyPerSec.toLocaleString('en')}/s**\n- sign: ${sm2.signPerSec.toLocaleString('en')}/s`));
  writeFileSync('BENCHMARKS.md', parts.join('\n'));
  console.error('BENCHMARKS.md written');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
