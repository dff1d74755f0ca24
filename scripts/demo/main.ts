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
 *   node dist/scripts/demo/main.js [--fast] [--verbose]
 *
 * `--fast` (or PASSGATE_DEMO_FAST=1) drops the pauses between steps (the relay still takes its
 * 300 ms); `--verbose` writes the gate's own JSON logs to stderr. Ctrl-C stops it cleanly.
 *
 * The parts, one job each: stage.ts sets the scene (built with app/compose.ts), story.ts plays it,
 * watch.ts watches the relay and the verdicts, table.ts prints the rows.
 */
import { Interrupted, Pacer } from './watch.js';
import { Stage } from './stage.js';
import { tell } from './story.js';
import { Table, dim, say } from './table.js';

const args = process.argv.slice(2);
const FAST = args.includes('--fast') || process.env.PASSGATE_DEMO_FAST === '1';
const VERBOSE = args.includes('--verbose');
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
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

let exitCode = 0;
try {
  const scene = await stage.setUp();
  await tell(scene, pacer, new Table());
  // After the story: a mode that keeps the gate running (e.g. to open the guard console in a
  // browser) goes here, before the shutdown below.
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
