#!/usr/bin/env node
/**
 * `passgate-backend`: run the reference backend for a site, or act on a running one (publish a
 * delta, set a holder's status for look-ups, send a command). State lives in the federation
 * directory (keys) and the backend database (events, lists, counters, holders).
 *
 *   passgate-backend run --broker mqtt://127.0.0.1:1883 --site demo --federation ./fed --db ./backend.db
 *   passgate-backend run --embedded-broker 1883 --site demo --federation ./fed --db ./backend.db
 *   passgate-backend command --broker … --site demo --federation ./fed --db ./backend.db --gate g1 --cmd open
 *   passgate-backend delta   --broker … … --list tokens --put <hex32>:0 --del <hex32>
 *   passgate-backend holder  --db ./backend.db --handle <hex32> --status 1
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Federation } from '../lib/federation.js';
import { ReferenceBackend } from './reference-backend.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { COMMANDS, type CommandName } from '../../device/core/signed-command.js';
import type { WireEntry } from '../../device/core/lists.js';
import type { ListName } from '../../device/core/types.js';

const log = pino({ name: 'passgate-backend' }, pino.destination(2));
const program = new Command('passgate-backend').description('the passgate reference backend').showHelpAfterError();

interface Common {
  broker?: string;
  site: string;
  federation: string;
  db: string;
}

const common = (c: Command) =>
  c
    .option('--broker <url>', 'MQTT broker URL', 'mqtt://127.0.0.1:1883')
    .requiredOption('--site <site>', 'site id')
    .requiredOption('--federation <dir>', 'federation key directory (created on first run)')
    .requiredOption('--db <file>', 'backend SQLite database');

function federationAt(dir: string): Federation {
  if (existsSync(join(dir, 'federation.json'))) return Federation.load(dir);
  const fed = Federation.create();
  fed.save(dir);
  log.info({ dir, root: fed.rootSpki() }, 'created a federation; pin its root on the gates (passgate init --root …)');
  return fed;
}

common(program.command('run').description('serve a site until SIGINT/SIGTERM'))
  .option('--embedded-broker <port>', 'start an in-process aedes broker on this port (MQTT 3.1.1) and use it')
  .option('--trust-version <n>', 'sign and publish a trust bundle with this version (default: republish the held one, or 1)')
  .option('--policy <json>', 'sign and publish this policy (JSON with a version)')
  .action(async (o: Common & { embeddedBroker?: string; trustVersion?: string; policy?: string }) => {
    let url = o.broker!;
    const embedded = o.embeddedBroker ? await startEmbeddedBroker({ port: Number(o.embeddedBroker) }) : null;
    if (embedded) url = embedded.url;
    const backend = new ReferenceBackend({ brokerUrl: url, federation: federationAt(o.federation), site: o.site, dbPath: o.db, log });
    await backend.start();
    if (o.trustVersion) await backend.publishTrust(Number(o.trustVersion));
    else if (!backend.hasDocument('trust')) await backend.publishTrust(1);
    if (o.policy) await backend.publishPolicy(JSON.parse(o.policy));
    log.info({ broker: url, site: o.site }, 'serving');
    const stop = async () => {
      await backend.stop();
      await embedded?.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  });

common(program.command('command').description('send a signed command to a gate and print its reply'))
  .requiredOption('--gate <gate>', 'gate id')
  .addOption(new Option('--cmd <cmd>', 'command').choices([...COMMANDS]).makeOptionMandatory())
  .option('--args <json>', 'command args as JSON, e.g. {"pulseMs":300}')
  .option('--actor <actor>', 'who sends it', 'ops:cli')
  .option('--ttl <seconds>', 'command lifetime', '60')
  .action(async (o: Common & { gate: string; cmd: CommandName; args?: string; actor: string; ttl: string }) => {
    await once(o, async (b) => {
      const reply = await b.sendCommand(o.gate, o.cmd, { args: o.args ? JSON.parse(o.args) : undefined, actor: o.actor, ttlSeconds: Number(o.ttl) });
      process.stdout.write(`${JSON.stringify(reply)}\n`);
      if (!reply.ok) process.exitCode = 1;
    });
  });

common(program.command('delta').description('publish a list delta (version + 1)'))
  .addOption(new Option('--list <list>', 'list').choices(['tokens', 'holders']).makeOptionMandatory())
  .option('--put <key:s...>', 'entries to put, key:s[:at[:until]]', [])
  .option('--del <key...>', 'keys to delete', [])
  .action(async (o: Common & { list: ListName; put: string[]; del: string[] }) => {
    const now = Math.floor(Date.now() / 1000);
    const put = o.put.map((p): WireEntry => {
      const [k, s, at, until] = p.split(':');
      return [k!, Number(s) as WireEntry[1], at ? Number(at) : now, until ? Number(until) : now + 30 * 86400];
    });
    await once(o, async (b) => {
      const d = await b.publishDelta(o.list, { put, del: o.del });
      process.stdout.write(`${o.list} ${d.from} → ${d.to}\n`);
    });
  });

program
  .command('holder')
  .description("set a holder's status for online look-ups")
  .requiredOption('--db <file>', 'backend SQLite database')
  .requiredOption('--site <site>', 'site id')
  .requiredOption('--federation <dir>', 'federation key directory')
  .requiredOption('--handle <hex32>', 'holder handle (passgate-issuer can compute it from an ID number)')
  .addOption(new Option('--status <s>', '0 revoked, 1 green, 2 yellow, 3 red').choices(['0', '1', '2', '3']).makeOptionMandatory())
  .action(async (o: Common & { handle: string; status: string }) => {
    const b = new ReferenceBackend({ brokerUrl: 'mqtt://unused', federation: federationAt(o.federation), site: o.site, dbPath: o.db, log });
    b.setHolder(o.handle, Number(o.status) as 0 | 1 | 2 | 3);
    await b.stop(); // never started: just closes the database
  });

/** Connects as a sending-only client next to a serving backend, runs `fn`, disconnects. */
async function once(o: Common, fn: (b: ReferenceBackend) => Promise<void>): Promise<void> {
  const b = new ReferenceBackend({
    brokerUrl: o.broker!,
    federation: federationAt(o.federation),
    site: o.site,
    dbPath: o.db,
    log,
    serve: false,
    clientId: `passgate-backend-cli-${process.pid}`,
  });
  await b.start();
  try {
    await fn(b);
  } finally {
    await b.stop();
  }
}

await program.parseAsync();
