#!/usr/bin/env node
/**
 * `passgate`: the technician's and integrator's command line. The forms below are a contract —
 * external checks drive them — so change them only compatibly.
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT, conventional, readPassword, runCli } from './lib/cli.js';
import type { ProvisionFlags } from './lib/provision-cli.js';
import { createInterface } from 'node:readline';
import { DB_FILE, GateStore, type StoreOptions } from '../device/store/store.js';
import { checkStoreIntegrity, describeStoreError, repairStore } from '../device/store/integrity.js';
import { DAMAGE_MARKER } from '../device/store/startup.js';
import { checkGuardName, checkPassword, hashPassword } from '../device/gate/guard-accounts.js';
import { ingestEnvelope, type Ingested } from '../device/ingest.js';
import { takeCommand } from '../device/command-intake.js';
import { EventRecorder } from '../device/events.js';
import { Verifier, type Verdict } from '../device/verifier.js';
import { FixedClock, SystemClock } from '../device/clock.js';
import { TrustingClock } from '../device/clock-trust.js';
import { isPassgateError, PassgateError } from '../base/errors.js';
import { b64uDecode } from '../device/core/b64u.js';
import { parseEnvelope } from '../device/core/envelope.js';
import { checkGateId, checkSiteId } from '../sync/topics.js';
import { describeSkipped, rootKey } from '../device/core/trust.js';
import { gateStatus } from '../device/status.js';
import type { Clock } from '../device/core/ports.js';
import type { Presented } from '../device/core/types.js';

const program = new Command('passgate').description('offline health-code and ID-card gate').showHelpAfterError();
program.exitOverride();

const dataDir = () => new Option('--data-dir <dir>', 'the gate data directory (from `passgate init` or `passgate provision`)').makeOptionMandatory();
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
      checkRoot(r);
    }
    // They become MQTT topic levels: the topic contract decides what is allowed.
    checkSiteId(o.site);
    checkGateId(o.gate);
    withStore(o.dataDir, { create: true }, (store) => store.initialise({ site: o.site, gate: o.gate, roots: o.root }));
    console.log(`initialised gate ${o.site}/${o.gate} in ${o.dataDir} with ${o.root.length} pinned root(s)`);
  });

program
  .command('import')
  .description('ingest signed envelopes (trust, policy, list, lookup, cmd, ack); prints what changed')
  .addOption(dataDir())
  .option('--now <epoch>', 'ingest as if the trusted time were EPOCH (seconds)')
  .argument('<file...>', 'envelope files (JSON), as passgate-issuer writes them')
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
            const taken = await takeCommand(text, { store, clock, recorder: new EventRecorder(store, clock) }, () => {});
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
  .argument('<text>', 'the code text or ID number; "-" reads one per line from stdin')
  .action(async (text: string, o: { dataDir: string; now?: string; input: 'qr' | 'idcard'; dryRun?: boolean; clockUntrusted?: boolean }) => {
    const clock = clockOf(o.now, o.clockUntrusted);
    // A dry run writes nothing, so it opens the store read-only: it decides on a full disk or a read-only directory too.
    await withStoreAsync(o.dataDir, async (store) => {
      if (!store.identity()) fail('NOT_INITIALISED', 'run passgate init first');
      // One-shot: SM2 keys verify without their tables rather than build tables for codes never shown.
      const verifier = new Verifier(store, clock, undefined, undefined, undefined, { backgroundTables: false });
      const one = async (t: string) => printVerdict(await verifier.verify(presentedOf(o.input, t), { dryRun: !!o.dryRun }));
      if (text !== '-') return one(text);
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) await one(line.replace(/\r$/, ''));
    }, { readonly: !!o.dryRun });
  });

program
  .command('status')
  .description('versions, ages, counts, clock trust and outbox depth, as JSON')
  .addOption(dataDir())
  .option('--clock-untrusted', 'report the system clock as untrusted')
  .action(async (o: { dataDir: string; clockUntrusted?: boolean }) => {
    await withStoreAsync(o.dataDir, async (store) => {
      const clock = new TrustingClock({ mode: o.clockUntrusted ? 'never' : 'auto', floorMs: () => store.clockFloorMs() });
      await clock.refresh();
      console.log(JSON.stringify(gateStatus(store, clock), null, 2));
    });
  });

program
  .command('repair')
  .description('check the store; when it is damaged, set it aside and rebuild it from what can be read (stop the service first)')
  .addOption(dataDir())
  .option('--force', 'rebuild even when the check finds nothing wrong')
  .option('--thorough', 'integrity_check instead of quick_check (slower; also compares indexes)')
  .action((o: { dataDir: string; force?: boolean; thorough?: boolean }) => {
    if (!existsSync(join(o.dataDir, DB_FILE))) fail('NOT_INITIALISED', `no store in ${o.dataDir}`);
    const check = checkStoreIntegrity(o.dataDir, { thorough: !!o.thorough });
    if (check.ok && !o.force) {
      console.log(`store ${join(o.dataDir, DB_FILE)} is whole (${check.durationMs} ms): nothing to repair`);
      return;
    }
    if (!check.ok) console.error(`store ${join(o.dataDir, DB_FILE)} is damaged: ${check.problems[0]}`);
    const r = repairStore(o.dataDir, { clock: new SystemClock(false), reason: check.ok ? 'repair --force' : check.problems.join('; ') });
    rmSync(join(o.dataDir, DAMAGE_MARKER), { force: true });
    console.log(
      `set aside: ${r.setAside.join(', ')}; ${r.salvaged} event(s) salvaged, ${r.unreadable} unreadable; seqs continue above ${r.floorSeq}` +
        (r.identity ? '; trust, policy and lists will be synced again from the backend' : '; NO identity could be read: run passgate init'),
    );
    if (!r.identity) process.exitCode = 1;
  });

program
  .command('decode-image')
  .description('print the QR text found in an image file (PNG, JPEG …), one line per code')
  .argument('<file...>', 'image files')
  .action(async (files: string[]) => {
    const { decodeQrImage } = await import('../drivers/camera/decode.js'); // the image stack only when asked for
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
    const added = withStore(o.dataDir, { create: false }, (store) => store.saveGuard(name, hash, Date.now()));
    console.log(added ? `guard ${name} added` : `guard ${name}: password changed`);
  });

guard
  .command('remove')
  .description('remove a guard (signed-in sessions end at the next request)')
  .addOption(dataDir())
  .argument('<name>')
  .action((name: string, o: { dataDir: string }) => {
    const removed = withStore(o.dataDir, { create: false }, (store) => store.removeGuard(name));
    if (!removed) throw new CliError('NO_SUCH_GUARD', `no guard named ${name}`, EXIT.REFUSED);
    console.log(`guard ${name} removed`);
  });

guard
  .command('list')
  .description('the guard accounts, one per line (name and when it was added)')
  .addOption(dataDir())
  .action((o: { dataDir: string }) => {
    const guards = withStore(o.dataDir, { create: false }, (store) => store.guards());
    if (guards.length === 0) console.error('no guard account: the console allows nothing until `passgate guard add` creates one');
    for (const g of guards) console.log(`${g.name}\t${new Date(g.createdAtMs).toISOString()}`);
  });

program
  .command('doctor')
  .description('check this gate: configuration, data directory, store, documents, clock, broker, devices, GPIO, systemd unit')
  .option('--config <file>', 'the gate configuration', '/etc/passgate/config.json')
  .option('--json', 'print the results as one JSON document')
  .option('--root-dir <dir>', 'filesystem root for /dev, /sys, /run and /etc (a test rig)', '/')
  .action(async (o: { config: string; json?: boolean; rootDir: string }) => {
    const { runDoctor, defaultDoctorEnv, exitStatus, formatResults } = await import('../app/doctor.js');
    const results = await runDoctor(o.config, defaultDoctorEnv({ root: o.rootDir }));
    const status = exitStatus(results);
    if (o.json) console.log(JSON.stringify({ status: ['OK', 'WARN', 'FAIL'][status], exitCode: status, checks: results }, null, 2));
    else console.log(formatResults(results));
    process.exitCode = status;
  });

program
  .command('provision')
  .description('turn this machine into a gate: data directory, device key and CSR, devices and udev rules, configuration; safe to run again')
  .option('--site <site>', 'site id (asked for on a terminal when missing)')
  .option('--gate <gate>', 'gate id (asked for on a terminal when missing)')
  .option('--root <b64u_spki...>', 'pinned federation root public key(s), base64url SPKI; one or two')
  .option('--config <file>', 'configuration file to write', '/etc/passgate/config.json')
  .option('--data-dir <dir>', 'gate data directory', '/var/lib/passgate')
  .option('--broker <url>', 'MQTT broker URL (mqtts://host:8883); none: offline gate')
  .option('--username <name>', 'MQTT username ("" for none: a client certificate)')
  .option('--password-stdin', 'read the MQTT password from the first line of stdin (kept in a 0640 file, not the config)')
  .option('--ca <file>', "CA certificate of the broker's certificate (PEM)")
  .option('--scanner <path>', 'the code scanner: a path from the device list, "simulated" or "none"')
  .option('--id-reader <path>', 'the ID-card reader: a path from the device list, "simulated" or "none"')
  .option('--relay-line <n>', 'relay GPIO line (BCM); default 17')
  .option('--relay-active-high', 'the relay board switches on with its input high')
  .option('--relay-active-low', 'the relay board switches on with its input low (most do; the default)')
  .option('--simulated-gpio', 'no real GPIO (a test rig): nothing is switched')
  .option('--csr-out <file>', "write a certificate signing request for the broker's mTLS")
  .option('--cert <file>', 'install the certificate the backend signed (checked against the device key)')
  .option('--list-devices', 'only list the serial and HID devices found')
  .option('--force', 'replace an existing gate identity or device key')
  .option('--dry-run', 'show what would be done; write nothing')
  .option('--root-dir <dir>', 'filesystem root for /dev, /sys and /etc (a test rig)', '/')
  .action(async (o: ProvisionFlags) => {
    const { provisionCommand } = await import('./lib/provision-cli.js');
    process.exitCode = await provisionCommand(o);
  });

program
  .command('selftest')
  .description('with the service stopped: pulse the relay, show each LED, wait for one code scan and one card read')
  .option('--config <file>', 'the gate configuration', '/etc/passgate/config.json')
  .option('--wait <seconds>', 'how long to wait for the scan and for the card', '30')
  .option('--pulse-ms <ms>', 'relay pulse length', '300')
  .action(async (o: { config: string; wait: string; pulseMs: string }) => {
    const [{ runSelftest }, { exitStatus }, { runCommand }] = await Promise.all([import('../app/selftest.js'), import('../app/doctor.js'), import('../device/clock-trust.js')]);
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const lines = rl[Symbol.asyncIterator]();
    try {
      const results = await runSelftest(o.config, {
        confirm: async (q) => {
          process.stdout.write(`${q} [y/n] `);
          const a = await lines.next();
          if (!process.stdin.isTTY) process.stdout.write('\n');
          return !a.done && /^y/i.test(a.value.trim());
        },
        say: (t) => console.log(t),
        run: runCommand,
        unit: 'passgate.service',
        waitMs: Math.max(1, Number(o.wait) || 30) * 1000,
        pulseMs: Math.min(2000, Math.max(50, Number(o.pulseMs) || 300)),
      });
      process.exitCode = exitStatus(results);
    } finally {
      rl.close();
    }
  });

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

/** A root must be the SPKI `passgate-issuer root` prints: say so, not what OpenSSL thought of the bytes. */
function checkRoot(r: string): void {
  const der = b64uDecode(r);
  let why = '';
  let ok = der !== null && der.length > 0;
  if (ok) {
    try {
      rootKey(der!); // checks the key as a trust bundle's keys are checked (§1)
    } catch (e) {
      ok = false;
      // Our own reasons are worth showing; OpenSSL's decoder messages are not.
      if (isPassgateError(e)) why = ` (${e.message.replace(/ \([A-Z_]+\)$/, '')})`;
    }
  }
  if (!ok) {
    const shown = r.length > 16 ? `${r.slice(0, 16)}…` : r;
    fail('BAD_CONFIG', `--root ${JSON.stringify(shown)} is not a federation root public key${why}: expected the base64url SPKI (ES256 P-256, Ed25519 or SM2) that \`passgate-issuer root\` prints`);
  }
}

/**
 * Opens the store at `dir`. Only `init` may create one: elsewhere a path without a store (a typo)
 * is an error naming it, and nothing is created there. A store that cannot be opened (damaged, full,
 * read-only) is one line naming why, never a SqliteError stack.
 */
function openStore(dir: string, create: boolean, options: StoreOptions = {}): GateStore {
  if (!create && !existsSync(join(dir, DB_FILE))) {
    throw new CliError('NOT_INITIALISED', `no gate store in ${dir} (looked for ${join(dir, DB_FILE)}): check --data-dir, or run passgate init there`, EXIT.NO_INPUT);
  }
  try {
    return GateStore.open(dir, options);
  } catch (e) {
    throw storeError(e, dir);
  }
}

/** SQLite's errors as one line a person can act on (anything else passes through). */
function storeError(e: unknown, dir: string): unknown {
  if (!String((e as { code?: unknown })?.code ?? '').startsWith('SQLITE_')) return e;
  const d = describeStoreError(e, dir);
  return new CliError(d.code, d.message, EXIT.REFUSED, e);
}

function withStore<T>(dir: string, o: { create: boolean }, fn: (s: GateStore) => T): T {
  const store = openStore(dir, o.create);
  try {
    return fn(store);
  } catch (e) {
    throw storeError(e, dir);
  } finally {
    store.close();
  }
}

async function withStoreAsync<T>(dir: string, fn: (s: GateStore) => Promise<T>, options: StoreOptions = {}): Promise<T> {
  const store = openStore(dir, false, options);
  try {
    return await fn(store);
  } catch (e) {
    throw storeError(e, dir);
  } finally {
    store.close();
  }
}

function fail(code: string, message: string): never {
  throw new PassgateError(code as never, message);
}

/** Exit codes for the reason codes a command can end on (the rest: 1, something was refused). */
function exitFor(e: { code: string }): number {
  if (e.code === 'NOT_INITIALISED') return EXIT.NO_INPUT;
  if (e.code === 'ALREADY_INITIALISED') return EXIT.EXISTS;
  if (e.code === 'BAD_CONFIG') return EXIT.CONFIG;
  return EXIT.REFUSED;
}

conventional(program);
void runCli(program, { exitFor });
