/**
 * `npm start`: a whole gate in one process — no hardware, no network beyond loopback — deciding a
 * scripted stream of codes and ID cards at a human pace, so a newcomer can watch what the commuter
 * and the guard would see.
 *
 *   fresh Federation ─▶ ReferenceBackend ─MQTT─▶ embedded aedes broker (127.0.0.1, a free port)
 *                                                      ▲
 *   simulated serial scanner ─┐                        │ GateLink (trust, policy, lists, look-ups,
 *   ID-card reader ⇄ fake SAM ┼─▶ GateService ─────────┘  events, R/status, signed commands)
 *   (virtual serial link)     │     ├─ relay, LEDs, buzzer, passage sensor, fire alarm: in-memory GPIO
 *                             │     └─ guard console (HTTP on 127.0.0.1, a free port)
 *
 *   node dist/scripts/demo/main.js [--fast] [--verbose] [--serve]
 *
 * `--serve` (`npm start -- --serve`) keeps the gate running after the script, with its guard console
 * on a printed URL and a printed password for the demo guard, so it can be clicked through.
 *
 * `--fast` (or PASSGATE_DEMO_FAST=1) drops the pauses between steps (the relay still takes its
 * 300 ms); `--verbose` writes the gate's own JSON logs to stderr. Ctrl-C stops it cleanly.
 *
 * The parts, one job each: stage.ts sets the scene (built with app/compose.ts), story.ts plays it,
 * watch.ts watches the relay and the verdicts, table.ts prints the rows.
 */
import { Interrupted, Pacer } from './watch.js';
import { DEMO_GUARD, DEMO_GUARD_PASSWORD, Stage } from './stage.js';
import { tell } from './story.js';
import { Table, bold, dim, say } from './table.js';

const args = process.argv.slice(2);
const FAST = args.includes('--fast') || process.env.PASSGATE_DEMO_FAST === '1';
const VERBOSE = args.includes('--verbose');
const SERVE = args.includes('--serve');
/** Set while --serve waits: a signal ends the wait (and the demo, cleanly). */
let stopServing: (() => void) | null = null;
/** Between two steps, so a person can read along. */
const pacer = new Pacer(FAST ? 0 : 700);
const stage = new Stage({ verbose: VERBOSE, pacer });

let interrupts = 0;
const onSignal = () => {
  if (++interrupts > 1) {
    stage.releaseNow();
    process.exit(130);
  }
  say();
  say(dim('  interrupted: stopping cleanly (Ctrl-C again to force)'));
  pacer.interrupt();
  stopServing?.();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** --serve: the gate stays up for a person to click through its console until Ctrl-C. */
async function serve(consoleUrl: string): Promise<void> {
  if (!consoleUrl) return;
  say();
  say(bold('the gate keeps running') + dim('  (Ctrl-C stops it cleanly)'));
  say(`  guard console  ${consoleUrl}/`);
  say(`  sign in as     ${DEMO_GUARD}  password ${DEMO_GUARD_PASSWORD}`);
  await new Promise<void>((resolve) => (stopServing = resolve));
}

let exitCode = 0;
try {
  const scene = await stage.setUp();
  await tell(scene, pacer, new Table());
  if (SERVE) await serve(scene.consoleUrl);
} catch (e) {
  if (e instanceof Interrupted) exitCode = 130;
  else {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    exitCode = 1;
  }
} finally {
  await stage.shutdown();
}
// Everything is closed, so the process would end by itself; this makes sure it does, with our code.
process.exit(exitCode);
