#!/usr/bin/env node
/**
 * `passgate`: the technician's and integrator's command line. The forms below are a contract —
 * external checks drive them — so change them only compatibly.
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DB_FILE, GateStore } from '../device/store/store.js';
import { checkGuardName, checkPassword, hashPassword } from '../device/gate/guard-accounts.js';
import { readPassword } from './lib/password-input.js';
import { ingestEnvelope, type Ingested } from '../device/ingest.js';
import { takeCommand } from '../device/commands.js';
import { Verifier, type Verdict } from '../device/verifier.js';
import { FixedClock, SystemClock } from '../device/clock.js';
import { isPassgateError, PassgateError } from '../device/core/errors.js';
import { b64uDecode } from '../device/core/b64u.js';
import { parseEnvelope } from '../device/core/envelope.js';
import { checkGateId, checkSiteId } from '../sync/topics.js';
import { describeSkipped, rootKey } from '../device/core/trust.js';
import { gateStatus } from '../device/status.js';
import { decodeQrImage } from '../drivers/camera/decode.js';
import type { Clock } from '../device/core/ports.js';
import type { Presented } from '../device/core/types.js';

const program = new Command('passgate').description('offline health-code and ID-card gate').showHelpAfterError();

const dataDir = () => new Option('--data-dir <dir>', 'the gate data directory').makeOptionMandatory();
const clockOf = (now: string | undefined, untrusted: boolean | undefined): Clock =>
  now === undefined ? new SystemClock(!untrusted) : new FixedClock(parseEpoch(now) * 1000);

program
  .command('init')
  .description('provision a data directory for a gate, pinning the federation root key(s)')
  .addOption(dataDir())
  .requiredOption('--site <site>', 'site id')
  .requiredOption('--gate <gate>', 'gate id')
  .requiredOption('--root <b64u_spki...>', 'pinned federation root public key (SPKI, base64url); one or two')
  .action((o: { dataDir: string; site: string; gate: string; root: string[] }) => {
    if (o.root.length > 2) fail('BAD_CONFIG', 'at most two roots (current and next)');
    for (const r of o.root) {
      const der = b64uDecode(r);
      try {
        if (!der) throw new Error('not base64url');
        rootKey(der); // checks the key as a trust bundle's keys are checked (§1)
      } catch (e) {
        fail('BAD_CONFIG', `--root ${r.slice(0, 16)}…: ${(e as Error).message}`);
      }
    }
    // They become MQTT topic levels: the topic contract decides what is allowed.
    checkSiteId(o.site);
    checkGateId(o.gate);
    withStore(o.dataDir, (store) => store.initialise({ site: o.site, gate: o.gate, roots: o.root }));
    console.log(`initialised gate ${o.site}/${o.gate} in ${o.dataDir} with ${o.root.length} pinned root(s)`);
  });

program
  .command('import')
  .description('ingest signed envelopes (trust, policy, list, lookup, cmd, ack); prints what changed')
  .addOption(dataDir())
  .option('--now <epoch>', 'ingest as if the trusted time were EPOCH (seconds)')
  .argument('<file...>')
  .action(async (files: string[], o: { dataDir: string; now?: string }) => {
    const clock = clockOf(o.now, false);
    let refused = 0;
    await withStoreAsync(o.dataDir, async (store) => {
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          refused++;
          console.error(`${file}: refused BAD_ENCODING: cannot read (${(e as NodeJS.ErrnoException).code})`);
          continue;
        }
        try {
          if (isCommand(text)) {
            const taken = await takeCommand(text, store, clock, () => {});
            // An envelope that does not verify leaves nothing behind, not even its jti.
            if (!taken.verified) throw new PassgateError(taken.code, 'command envelope does not verify: nothing recorded');
            const { reply } = taken;
            if (!reply.ok) throw new PassgateError(reply.error as never, `command ${reply.jti ?? '?'} refused (recorded as event ${taken.seq})`);
            console.log(`${file}: command ${reply.jti} accepted and recorded (no relay in this process)`);
            continue;
          }
          const ingested = ingestEnvelope(text, store, clock);
          if (ingested.typ === 'passgate-ack+json') {
            // A signed ack carried by hand: the backend has these events, the outbox may let them go.
            const removed = store.ackUpTo(ingested.ack.upTo);
            console.log(`${file}: ack up to ${ingested.ack.upTo} verified; ${removed} event(s) deleted from the outbox`);
            continue;
          }
          console.log(`${file}: ${describeIngested(ingested)}`);
        } catch (e) {
          if (!isPassgateError(e)) throw e;
          refused++;
          console.error(`${file}: refused ${e.code}: ${e.message}`);
        }
      }
    });
    if (refused > 0) {
      console.error(`${refused} of ${files.length} refused`);
      process.exitCode = 1;
    }
  });

program
  .command('verify')
  .description('decide on a code or ID number as the gate would; one JSON line per input (TEXT "-" reads stdin lines)')
  .addOption(dataDir())
  .option('--now <epoch>', 'decide as if the trusted time were EPOCH (seconds)')
  .addOption(new Option('--input <kind>', 'what was presented').choices(['qr', 'idcard']).default('qr'))
  .option('--dry-run', 'decide without recording (no outbox event, no anti-passback memory)')
  .option('--clock-untrusted', 'treat the system clock as untrusted')
  .argument('<text>')
  .action(async (text: string, o: { dataDir: string; now?: string; input: 'qr' | 'idcard'; dryRun?: boolean; clockUntrusted?: boolean }) => {
    const clock = clockOf(o.now, o.clockUntrusted);
    await withStoreAsync(o.dataDir, async (store) => {
      if (!store.identity()) fail('NOT_INITIALISED', 'run passgate init first');
      const verifier = new Verifier(store, clock);
      const one = async (t: string) => printVerdict(await verifier.present(presentedOf(o.input, t), { dryRun: !!o.dryRun }));
      if (text !== '-') return one(text);
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) await one(line.replace(/\r$/, ''));
    });
  });

program
  .command('status')
  .description('versions, ages, counts, clock trust and outbox depth, as JSON')
  .addOption(dataDir())
  .option('--clock-untrusted', 'report the system clock as untrusted')
  .action((o: { dataDir: string; clockUntrusted?: boolean }) => {
    withStore(o.dataDir, (store) => console.log(JSON.stringify(gateStatus(store, new SystemClock(!o.clockUntrusted)), null, 2)));
  });

program
  .command('decode-image')
  .description('print the QR text found in an image file (PNG, JPEG …), one line per code')
  .argument('<file...>')
  .action(async (files: string[]) => {
    let missed = 0;
    for (const file of files) {
      try {
        const codes = await decodeQrImage(readFileSync(file));
        if (codes.length === 0) missed++;
        for (const text of codes) console.log(text);
      } catch (e) {
        missed++;
        console.error(`${file}: ${(e as Error).message}`);
      }
    }
    if (missed > 0) process.exitCode = 1;
  });

// --- guard accounts (the console's sign-in) -----------------------------------------------------------

const guard = program.command('guard').description("the guard console's accounts, kept in the data directory");

guard
  .command('add')
  .description('add a guard (or set a new password); the password is read from stdin, or prompted without echo on a terminal')
  .addOption(dataDir())
  .argument('<name>', 'account name: 1–32 of a-z 0-9 . _ -')
  .action(async (name: string, o: { dataDir: string }) => {
    const bad = checkGuardName(name);
    if (bad) fail('BAD_CONFIG', bad);
    const password = await readPassword();
    const weak = checkPassword(password);
    if (weak) fail('BAD_CONFIG', weak);
    const hash = await hashPassword(password);
    const added = withInitialisedStore(o.dataDir, (store) => store.saveGuard(name, hash, Date.now()));
    console.log(added ? `guard ${name} added` : `guard ${name}: password changed`);
  });

guard
  .command('remove')
  .description('remove a guard (signed-in sessions end at the next request)')
  .addOption(dataDir())
  .argument('<name>')
  .action((name: string, o: { dataDir: string }) => {
    const removed = withInitialisedStore(o.dataDir, (store) => store.removeGuard(name));
    if (!removed) fail('BAD_CONFIG', `no guard named ${name}`);
    console.log(`guard ${name} removed`);
  });

guard
  .command('list')
  .description('the guard accounts, one per line (name and when it was added)')
  .addOption(dataDir())
  .action((o: { dataDir: string }) => {
    const guards = withInitialisedStore(o.dataDir, (store) => store.guards());
    if (guards.length === 0) console.error('no guard account: the console allows nothing until `passgate guard add` creates one');
    for (const g of guards) console.log(`${g.name}\t${new Date(g.createdAtMs).toISOString()}`);
  });

function withInitialisedStore<T>(dir: string, fn: (s: GateStore) => T): T {
  if (!existsSync(join(dir, DB_FILE))) fail('NOT_INITIALISED', `${dir} holds no gate store: run passgate init first`);
  return withStore(dir, fn);
}

function presentedOf(input: 'qr' | 'idcard', text: string): Presented {
  return input === 'qr' ? { input, text } : { input, idNumber: text };
}

function printVerdict(v: Verdict): void {
  const d = v.decision;
  const line = {
    result: d.result,
    reason: d.reason,
    input: d.input,
    format: d.format,
    issuer: d.issuer,
    status: d.status,
    handle: d.handle,
    kid: d.kid,
    detail: d.detail,
    seq: v.seq,
    latencyUs: v.latencyUs,
    ...(d.mode ? { mode: d.mode } : {}),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function describeIngested(r: Ingested): string {
  switch (r.typ) {
    case 'passgate-trust+json':
      return `trust ${r.outcome} (version ${r.version}${r.skippedKeys.length ? `; ${r.skippedKeys.length} key(s) left out: ${r.skippedKeys.map(describeSkipped).join('; ')}` : ''})`;
    case 'passgate-policy+json':
      return `policy ${r.outcome} (version ${r.version})`;
    case 'passgate-list+json':
      return r.outcome === 'staged'
        ? `${r.list} snapshot ${r.snapshot}: chunk staged (${r.received}/${r.chunks})`
        : `${r.list} list ${r.outcome} (version ${r.version})`;
    case 'passgate-lookup+json':
      return `lookup answer ${r.reply.id} verified (holder status ${r.reply.s ?? 'unknown'})`;
    case 'passgate-cmd+json':
      return `command ${r.command.cmd} verified`;
    case 'passgate-ack+json':
      return `ack up to ${r.ack.upTo} verified`;
  }
}

/** Commands go through takeCommand (recorded either way); a malformed envelope is ingest's to refuse. */
function isCommand(text: string): boolean {
  try {
    return parseEnvelope(text).typ === 'passgate-cmd+json';
  } catch {
    return false;
  }
}

function parseEpoch(s: string): number {
  if (!/^\d{1,12}$/.test(s)) fail('BAD_CONFIG', `--now must be epoch seconds, got ${s}`);
  return Number(s);
}

function withStore<T>(dir: string, fn: (s: GateStore) => T): T {
  const store = GateStore.open(dir);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

async function withStoreAsync<T>(dir: string, fn: (s: GateStore) => Promise<T>): Promise<T> {
  const store = GateStore.open(dir);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function fail(code: string, message: string): never {
  throw new PassgateError(code as never, message);
}

program.parseAsync().catch((e: unknown) => {
  if (isPassgateError(e)) console.error(`passgate: ${e.code}: ${e.message}`);
  else console.error(`passgate: INTERNAL: ${(e as Error).stack ?? String(e)}`);
  process.exit(isPassgateError(e) ? 1 : 70);
});
