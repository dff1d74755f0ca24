#!/usr/bin/env node
/**
 * A headless gate for sync trials and crash tests: a real store, Verifier and GateLink, fed with
 * unreadable QR texts (each a real `deny UNSUPPORTED_FORMAT` decision committed to the outbox).
 *
 * stdout, one line each (written synchronously to a pipe, after the commit it reports):
 *   connected <session>     a connection came up
 *   seq <n>                 decision n is committed
 *   done <lastSeq>          --count decisions made
 *   drained                 … and the backend acked every one of them
 * SIGTERM / SIGINT: clean stop (`offline` retained), exit 0.
 *
 *   node dist/scripts/backend/gate-sim.js --data-dir D --site S --gate G --root <b64u> --broker mqtt://… --count 1000
 */
import { Command } from 'commander';
import { GateStore } from '../../device/store/store.js';
import { SystemClock } from '../../device/clock.js';
import { Verifier } from '../../device/verifier.js';
import { GateLink } from '../../sync/gate-link.js';
import { createCommandRunner } from '../../sync/commands.js';
import { ModeOverrides } from '../../device/modes.js';

const program = new Command('gate-sim')
  .requiredOption('--data-dir <dir>')
  .requiredOption('--site <site>')
  .requiredOption('--gate <gate>')
  .option('--root <b64u>', 'pinned root SPKI (needed on first run only)')
  .requiredOption('--broker <url>')
  .option('--count <n>', 'decisions to make', '0')
  .option('--interval-ms <ms>', 'pause between decisions', '0')
  .option('--reconnect-max-ms <ms>', 'reconnect backoff cap', '2000')
  .option('--keepalive <s>', 'MQTT keepalive seconds', '30')
  .parse();

const o = program.opts<{
  dataDir: string;
  site: string;
  gate: string;
  root?: string;
  broker: string;
  count: string;
  intervalMs: string;
  reconnectMaxMs: string;
  keepalive: string;
}>();

const out = (line: string) => process.stdout.write(`${line}\n`);
const store = GateStore.open(o.dataDir);
if (!store.identity()) {
  if (!o.root) throw new Error('--root is needed to initialise a new data directory');
  store.initialise({ site: o.site, gate: o.gate, roots: [o.root] });
}
const clock = new SystemClock(true);
let verifier: Verifier | null = null;
const link = new GateLink({
  store,
  clock,
  broker: { url: o.broker, keepaliveSeconds: Number(o.keepalive), reconnect: { minMs: 100, maxMs: Number(o.reconnectMaxMs) } },
  onDocumentsChanged: () => verifier?.reload(),
  runCommand: createCommandRunner({
    pulse: () => {},
    resync: () => link.resync(),
    reload: () => verifier?.reload(),
    modes: new ModeOverrides(store, clock),
    restart: () => process.exit(0),
  }),
});
verifier = new Verifier(store, clock, link.lookupPort);
link.on('connected', (info) => out(`connected ${info.session}`));
link.start();

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await link.stop();
  store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const count = Number(o.count);
const interval = Number(o.intervalMs);
let last = 0;
for (let i = 0; i < count && !stopping; i++) {
  const v = await verifier.present({ input: 'qr', text: `SIM-${process.pid}-${i}` });
  if (v.seq === null) throw new Error('decision not recorded');
  last = v.seq;
  out(`seq ${v.seq}`);
  link.eventsRecorded();
  await new Promise((r) => (interval > 0 ? setTimeout(r, interval) : setImmediate(r)));
}
if (count > 0) out(`done ${last}`);
const poll = setInterval(() => {
  if (count > 0 && store.outboxBounds().firstSeq === null) {
    out('drained');
    clearInterval(poll);
  }
}, 100);
