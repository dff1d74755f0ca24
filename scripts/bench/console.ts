/**
 * The guard console under attack: decision latency, relay pulse length and the console's own answers
 * to a signed-in guard, first on a quiet gate, then while a separate process keeps 2,000 slow or idle
 * connections to the console open (loopback only, bounded to about a minute).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startSimGate, type SimGate } from '../lib/sim-gate.js';
import { signIn, type ConsoleClient } from '../lib/console-client.js';

const HOSTILE = 2000;
const DECISIONS = 300;
const PULSES = 10;
const REQUESTS = 100;

export interface ConsolePhase {
  decisionP50Ms: number;
  decisionP99Ms: number;
  decisionMaxMs: number;
  pulseMs: { min: number; max: number };
  consoleP50Ms: number;
  consoleP99Ms: number;
  signInMs: number;
  /** Most descriptors the gate process held during the phase. */
  gateFds: number;
  /** The gate's event-loop delay during the phase (what every timer, the relay's included, waits on top). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface ConsoleBench {
  quiet: ConsolePhase;
  attacked: ConsolePhase & { hostileOpened: number; evicted: number; refused: number; consoleConnectionsMax: number };
  policyPulseMs: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fds = () => readdirSync('/proc/self/fd').length;

async function phase(gate: SimGate, guard: ConsoleClient, password: string): Promise<ConsolePhase> {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let fdMax = fds();
  const fdWatch = setInterval(() => (fdMax = Math.max(fdMax, fds())), 50);
  // Decision latency: a red code presented on the scanner → its event recorded (a deny: no pulse to wait out).
  const decisions: number[] = [];
  for (let i = 0; i < DECISIONS; i++) {
    const code = gate.code({ status: 3 });
    const before = gate.store.outboxBounds().lastSeq;
    const t0 = performance.now();
    await gate.scanner.present(code);
    while (gate.store.outboxBounds().lastSeq === before) await new Promise((r) => setImmediate(r));
    decisions.push(performance.now() - t0);
  }
  // Relay: green codes; how long each pulse actually held the relay.
  const pulses: number[] = [];
  for (let i = 0; i < PULSES; i++) {
    const mark = gate.relay.mark();
    await gate.scanner.present(gate.code({ status: 1 }));
    for (;;) {
      const done = gate.relay.pulsesSince(mark);
      if (done.length) {
        pulses.push(done[0]!);
        break;
      }
      await sleep(5);
    }
    while (gate.service.gate.snapshot().phase !== 'idle') await sleep(5);
  }
  // The console, to the signed-in guard.
  const requests: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const res = await guard.get('/holds');
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`bench: the console answered ${res.status}`);
    requests.push(performance.now() - t0);
  }
  const t0 = performance.now();
  await signIn(gate.url, 'bench', password);
  const signInMs = performance.now() - t0;
  loop.disable();
  clearInterval(fdWatch);
  return {
    decisionP50Ms: pct(decisions, 50),
    decisionP99Ms: pct(decisions, 99),
    decisionMaxMs: Math.round(Math.max(...decisions) * 100) / 100,
    pulseMs: { min: Math.round(Math.min(...pulses)), max: Math.round(Math.max(...pulses)) },
    consoleP50Ms: pct(requests, 50),
    consoleP99Ms: pct(requests, 99),
    signInMs: Math.round(signInMs),
    gateFds: fdMax,
    loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100,
    loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
  };
}

export async function benchConsole(): Promise<ConsoleBench> {
  const password = 'bench-password-1';
  const gate = await startSimGate({ guard: { name: 'bench', password } });
  try {
    const guard = await signIn(gate.url, 'bench', password);
    const quiet = await phase(gate, guard, password);

    const script = fileURLToPath(new URL('./hostile-clients.js', import.meta.url));
    const child = spawn(process.execPath, [script, String(gate.port), String(HOSTILE), '45'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    let connectionsMax = 0;
    const watch = setInterval(() => (connectionsMax = Math.max(connectionsMax, gate.service.guardConsoleStats()?.connections ?? 0)), 20);
    await sleep(8000); // the attack established: every slot taken, the rest knocking
    const attacked = await phase(gate, guard, password);
    clearInterval(watch);
    child.kill('SIGTERM');
    await exited;
    const stats = gate.service.guardConsoleStats()!;
    const hostileOpened = out ? (JSON.parse(out) as { opened: number }).opened : 0;
    return {
      quiet,
      attacked: { ...attacked, hostileOpened, evicted: stats.evicted, refused: stats.refusedConnections, consoleConnectionsMax: connectionsMax },
      policyPulseMs: 300,
    };
  } finally {
    await gate.stop();
  }
}
