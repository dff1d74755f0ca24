#!/usr/bin/env node
/**
 * `passgate-issuer`: the reference issuer and backend signing tools. Makes a federation, signs trust
 * bundles, policies, list deltas and snapshots, commands and look-up answers, and issues HP1 codes
 * (text, or a QR PNG) — for the demo, the tests, and integrators trying a gate.
 */
import { Command, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { CliError, EXIT, conventional, runCli } from './lib/cli.js';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import QRCode from 'qrcode';
import { Federation } from './lib/federation.js';
import { generateKey, holderHandleOf, issueHp1, signEnvelope, snapshotChunks } from './lib/issuer.js';
import { audienceOf, type EventsAck } from '../device/core/ack.js';
import { checkGateId, checkSiteId } from '../sync/topics.js';
import type { WireEntry } from '../device/core/lists.js';
import type { Status } from '../device/core/types.js';

const program = new Command('passgate-issuer').description('reference issuer and backend signing tools').showHelpAfterError();
program.exitOverride();
const fedOption = () => new Option('--federation <dir>', 'federation folder (from `federation`)').makeOptionMandatory();
const now = () => Math.floor(Date.now() / 1000);
const int = (v: string) => {
  if (!/^-?\d+$/.test(v)) throw new Error(`not an integer: ${v}`);
  return Number(v);
};
const collect = (v: string, prev: string[]) => [...prev, v];

function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, `${text}\n`);
  else console.log(text);
}

program
  .command('federation')
  .description('create a federation: root, issuers CN-330000 (ES256), CN-110000 (EdDSA), CN-440000 (SM2SM3), signers, holder key')
  .requiredOption('--out <dir>', 'folder to write federation.json into')
  .addOption(new Option('--root-alg <alg>', 'algorithm of the root key').choices(['ES256', 'EdDSA', 'SM2SM3']).default('ES256'))
  .option('--force', 'replace an existing federation in --out (every key in it is lost)')
  .action((o: { out: string; rootAlg: 'ES256' | 'EdDSA' | 'SM2SM3'; force?: boolean }) => {
    if (existsSync(join(o.out, 'federation.json')) && !o.force) {
      throw new CliError('EXISTS', `${join(o.out, 'federation.json')} exists: replacing it would replace every key of that federation (use --force)`, EXIT.EXISTS);
    }
    const fed = Federation.create(o.rootAlg);
    fed.save(o.out);
    console.log(fed.rootSpki());
  });

program
  .command('root')
  .description('print the federation root SPKI (base64url), for `passgate init --root`')
  .addOption(fedOption())
  .action((o: { federation: string }) => console.log(Federation.load(o.federation).rootSpki()));

program
  .command('keygen')
  .description('generate a signing key file')
  .addOption(new Option('--alg <alg>', 'signature algorithm').choices(['ES256', 'EdDSA', 'SM2SM3']).makeOptionMandatory())
  .requiredOption('--out <file>', 'key file to write (mode 0600)')
  .action((o: { alg: 'ES256' | 'EdDSA' | 'SM2SM3'; out: string }) => {
    const { file } = generateKey(o.alg);
    writeFileSync(o.out, JSON.stringify(file, null, 2), { mode: 0o600 });
    console.log(file.kid);
  });

program
  .command('trust')
  .description('sign a trust bundle of the federation')
  .addOption(fedOption())
  .requiredOption('--version <n>', 'bundle version', int)
  .option('--issued-at <epoch>', 'issue time, epoch seconds (default now)', int)
  .option('--lifetime <seconds>', 'how long the bundle is valid', int, 7 * 86400)
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; version: number; issuedAt?: number; lifetime: number; out?: string }) => {
    emit(Federation.load(o.federation).trustEnvelope(o.version, o.issuedAt ?? now(), o.lifetime), o.out);
  });

program
  .command('policy')
  .description('sign a policy; --set key=JSON overrides a default (e.g. --set dcc=\\"staff\\")')
  .addOption(fedOption())
  .requiredOption('--version <n>', 'policy version', int)
  .option('--set <key=json>', 'set a policy field to a JSON value (repeatable)', collect, [])
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; version: number; set: string[]; out?: string }) => {
    const policy: Record<string, unknown> = { version: o.version };
    for (const kv of o.set) {
      const i = kv.indexOf('=');
      policy[kv.slice(0, i)] = JSON.parse(kv.slice(i + 1));
    }
    emit(Federation.load(o.federation).policyEnvelope(policy as never), o.out);
  });

program
  .command('code')
  .description('issue an HP1 code; prints the QR text')
  .addOption(fedOption())
  .requiredOption('--issuer <id>', 'issuer id (CN-330000, CN-110000, CN-440000)')
  .addOption(new Option('--status <colour>', 'health status the code carries').choices(['green', 'yellow', 'red']).default('green'))
  .addOption(new Option('--kind <kind>', 'dynamic (phone) or paper code').choices(['dynamic', 'paper']).default('dynamic'))
  .option('--iat <epoch>', 'issued at (default now)', int)
  .option('--ttl <seconds>', 'lifetime (default 600 dynamic, 180 days paper)', int)
  .option('--sat <epoch>', 'status determined at (default iat)', int)
  .option('--holder-id <id>', 'bind to this ID number (salted hash only)')
  .option('--name <masked>', 'masked display name, e.g. 张*')
  .option('--png <file>', 'also write the QR as a PNG')
  .option('--handle', 'print the token handle after the text')
  .action(async (o: { federation: string; issuer: string; status: string; kind: 'dynamic' | 'paper'; iat?: number; ttl?: number; sat?: number; holderId?: string; name?: string; png?: string; handle?: boolean }) => {
    const iat = o.iat ?? now();
    const ttl = o.ttl ?? (o.kind === 'dynamic' ? 600 : 180 * 86400);
    const status = ({ green: 1, yellow: 2, red: 3 } as const)[o.status as 'green'] as Status;
    const code = issueHp1(Federation.load(o.federation).issuer(o.issuer), {
      iss: o.issuer,
      iat,
      exp: iat + ttl,
      status,
      kind: o.kind,
      ...(o.sat !== undefined ? { sat: o.sat } : {}),
      ...(o.holderId !== undefined ? { holderId: o.holderId } : {}),
      ...(o.name !== undefined ? { maskedName: o.name } : {}),
    });
    // Alphanumeric mode, as §2 asks; ECC M for screens, Q for paper.
    if (o.png) await QRCode.toFile(o.png, [{ data: code.text, mode: 'alphanumeric' }], { errorCorrectionLevel: o.kind === 'paper' ? 'Q' : 'M', scale: 6 });
    console.log(code.text);
    if (o.handle) console.log(code.handle);
  });

program
  .command('holder-handle')
  .description('the holders-list key of an ID number')
  .addOption(fedOption())
  .argument('<id-number>', '18-character resident ID number')
  .action((id: string, o: { federation: string }) => console.log(holderHandleOf(Federation.load(o.federation).holderKey, id)));

const entryOf = (s: string): WireEntry => {
  const [k, st, at, until] = s.split(':');
  return [k!, int(st!) as WireEntry[1], int(at!), int(until!)];
};

program
  .command('delta')
  .description('sign a list delta; --put KEY:S:AT:UNTIL, --del KEY (repeatable)')
  .addOption(fedOption())
  .addOption(new Option('--list <name>', 'which list').choices(['tokens', 'holders']).makeOptionMandatory())
  .requiredOption('--from <n>', 'list version the delta applies to', int)
  .requiredOption('--to <n>', 'list version after it', int)
  .option('--put <entry>', 'entry to add or replace, KEY:S:AT:UNTIL (repeatable)', collect, [])
  .option('--del <key>', 'key to delete (repeatable)', collect, [])
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; list: string; from: number; to: number; put: string[]; del: string[]; out?: string }) => {
    const payload = { list: o.list, from: o.from, to: o.to, put: o.put.map(entryOf), del: o.del };
    emit(signEnvelope(Federation.load(o.federation).listSigner, 'passgate-list+json', payload), o.out);
  });

program
  .command('snapshot')
  .description('sign a list snapshot as chunk files; entries from a JSON file of [key, s, at, until] arrays')
  .addOption(fedOption())
  .addOption(new Option('--list <name>', 'which list').choices(['tokens', 'holders']).makeOptionMandatory())
  .requiredOption('--snapshot <n>', 'version the snapshot brings', int)
  .requiredOption('--entries <file>', 'JSON file of the entries')
  .option('--chunk-size <n>', 'entries per chunk envelope', int, 50000)
  .requiredOption('--out-dir <dir>', 'folder for the chunk envelopes')
  .action((o: { federation: string; list: string; snapshot: number; entries: string; chunkSize: number; outDir: string }) => {
    const entries = JSON.parse(readFileSync(o.entries, 'utf8')) as WireEntry[];
    const chunks = snapshotChunks(Federation.load(o.federation).listSigner, o.list, o.snapshot, entries, o.chunkSize);
    mkdirSync(o.outDir, { recursive: true });
    chunks.forEach((c, i) => writeFileSync(join(o.outDir, `${o.list}-${o.snapshot}-${i}.json`), c));
    console.log(`${chunks.length} chunk(s) written to ${o.outDir}`);
  });

program
  .command('cmd')
  .description('sign a command for one gate (audience <site>/<gate>)')
  .addOption(fedOption())
  .requiredOption('--site <id>', 'the site of the gate the command is for')
  .requiredOption('--gate <id>', 'the gate the command is for (audience <site>/<gate>)')
  .addOption(new Option('--cmd <name>', 'the command').choices(['open', 'sync', 'set-mode', 'reload', 'restart']).makeOptionMandatory())
  .requiredOption('--ctr <n>', 'counter, above the last one this gate accepted', int)
  .option('--args <json>', 'the command\'s arguments, a JSON object', '{}')
  .option('--actor <who>', 'who gave the command (recorded)', 'ops:cli')
  .option('--ttl <seconds>', 'how long the command stays valid', int, 60)
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; site: string; gate: string; cmd: string; ctr: number; args: string; actor: string; ttl: number; out?: string }) => {
    const iat = now();
    const aud = audienceOf({ site: checkSiteId(o.site), gate: checkGateId(o.gate) });
    const payload = { aud, cmd: o.cmd, args: JSON.parse(o.args), actor: o.actor, iat, exp: iat + o.ttl, jti: randomUUID(), ctr: o.ctr };
    emit(signEnvelope(Federation.load(o.federation).commandSigner, 'passgate-cmd+json', payload), o.out);
  });

program
  .command('ack')
  .description("sign an events ack: the backend has stored every event of <site>/<gate> up to --up-to")
  .addOption(fedOption())
  .requiredOption('--site <id>', 'the site of the gate acknowledged')
  .requiredOption('--gate <id>', 'the gate acknowledged')
  .requiredOption('--up-to <seq>', 'highest seq such that every event up to it is stored', int)
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; site: string; gate: string; upTo: number; out?: string }) => {
    const ack: EventsAck = { aud: audienceOf({ site: checkSiteId(o.site), gate: checkGateId(o.gate) }), upTo: o.upTo, iat: now() };
    emit(signEnvelope(Federation.load(o.federation).listSigner, 'passgate-ack+json', ack), o.out);
  });

program
  .command('lookup')
  .description('sign an answer to an online holder look-up')
  .addOption(fedOption())
  .requiredOption('--id <request-id>', 'the look-up request id being answered')
  .requiredOption('--holder <handle>', 'the holder handle asked about')
  .option('--s <status>', '0 revoked, 1 green, 2 yellow, 3 red; omit for unknown', int)
  .option('--out <file>', 'write the envelope here instead of stdout')
  .action((o: { federation: string; id: string; holder: string; s?: number; out?: string }) => {
    const payload = { id: o.id, holder: o.holder, s: o.s ?? null, at: now() };
    emit(signEnvelope(Federation.load(o.federation).listSigner, 'passgate-lookup+json', payload), o.out);
  });

conventional(program);
void runCli(program, { plainErrors: 'refused' });
