#!/usr/bin/env node
/**
 * A headless gate for sync trials and crash tests, built by compose like the service (real store,
 * verifier, GateLink; in-memory GPIO), fed with unreadable QR texts (each a real `deny UNSUPPORTED_FORMAT` decision committed to the outbox).
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
import { parseConfig } from '../../device/config.js';
import { compose } from '../../app/compose.js';

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
// The gate as the service builds it (in-memory GPIO, no scanners, no console): decisions are fed below.
const config = parseConfig({
  dataDir: o.dataDir,
  clock: { trusted: 'system' }, // a simulated gate trusts the host's clock
  logging: { level: 'silent' },
  gpio: { simulated: true, relay: { line: 17, activeLow: true } },
  guardConsole: { enabled: false },
  mqtt: { url: o.broker, keepaliveSeconds: Number(o.keepalive) },
});
const gate = await compose(config, {
  store,
  inputs: [],
  broker: { reconnect: { minMs: 100, maxMs: Number(o.reconnectMaxMs) } },
  restart: () => process.exit(0),
});
const link = gate.link!;
link.on('connected', (info) => out(`connected ${info.session}`));
await gate.start();

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await gate.stop();
  store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const count = Number(o.count);
const interval = Number(o.intervalMs);
let last = 0;
for (let i = 0; i < count && !stopping; i++) {
  const v = await gate.verifier.verify({ input: 'qr', text: `SIM-${process.pid}-${i}` });
  if (v.seq === null) throw new Error('decision not recorded');
  last = v.seq;
  out(`seq ${v.seq}`); // recorded: the link publishes it at once (it hears eventRecorded)
  await new Promise((r) => (interval > 0 ? setTimeout(r, interval) : setImmediate(r)));
}
if (count > 0) out(`done ${last}`);
const poll = setInterval(() => {
  if (count > 0 && store.outboxBounds().firstSeq === null) {
    out('drained');
    clearInterval(poll);
  }
}, 100);
