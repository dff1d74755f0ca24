/**
 * The terminal side of `passgate provision`: flags first; on a terminal, a prompt (node:readline, with
 * the default in brackets) for whatever the flags left out; then app/provision.ts does the work.
 * Without a terminal every required value must come as a flag (scripts), else a usage error.
 */
import { createInterface } from 'node:readline/promises';
import { ConfigError } from '../../device/config.js';
import { ProvisionError, describeDevice, discoverDevices, provision, type FoundDevice } from '../../app/provision.js';
import { CliError, EXIT } from './cli.js';

export interface ProvisionFlags {
  site?: string;
  gate?: string;
  root?: string[];
  config: string;
  dataDir: string;
  broker?: string;
  username?: string;
  passwordStdin?: boolean;
  ca?: string;
  scanner?: string;
  idReader?: string;
  relayLine: string;
  relayActiveHigh?: boolean;
  simulatedGpio?: boolean;
  csrOut?: string;
  cert?: string;
  listDevices?: boolean;
  force?: boolean;
  dryRun?: boolean;
  rootDir: string;
}

export async function provisionCommand(o: ProvisionFlags): Promise<number> {
  const found = discoverDevices(o.rootDir);
  const list = (ds: FoundDevice[]) => (ds.length ? ds.map((d, i) => `  ${i + 1}. ${describeDevice(d)}`).join('\n') : '  (none found)');
  if (o.listDevices) {
    console.log(`serial and HID devices:\n${list(found)}`);
    return EXIT.OK;
  }
  let password: string | undefined;
  const interactive = process.stdin.isTTY && !o.passwordStdin;
  if (o.passwordStdin) {
    for await (const line of createInterface({ input: process.stdin })) {
      password = line;
      break;
    }
  }
  if (interactive) {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const ask = async (q: string, dflt?: string) => (await rl.question(`${q}${dflt ? ` [${dflt}]` : ''}: `)).trim() || dflt || '';
    try {
      o.site ??= await ask('site id');
      o.gate ??= await ask('gate id');
      if (!o.root?.length) o.root = [await ask('federation root public key (base64url SPKI)')];
      o.broker ??= (await ask('MQTT broker URL (empty: offline gate)')) || undefined;
      if (o.broker && o.username === undefined) o.username = (await ask('MQTT username (empty: none or client certificate)')) || undefined;
      if (o.broker && o.username && password === undefined) password = (await ask('MQTT password (shown as typed)')) || undefined;
      const choose = async (role: string, current: string | undefined) => {
        if (current) return current;
        console.log(`devices found:\n${list(found)}`);
        const a = await ask(`which is the ${role}? number, "simulated" or "none"`, 'none');
        const n = Number(a);
        return Number.isInteger(n) && n >= 1 && n <= found.length ? found[n - 1]!.path : a;
      };
      o.scanner = await choose('code scanner', o.scanner);
      o.idReader = await choose('ID-card reader', o.idReader);
      o.relayLine = await ask('relay GPIO line (BCM)', o.relayLine);
      if (!o.relayActiveHigh) o.relayActiveHigh = /^y/i.test(await ask('does the relay board switch on with its input HIGH? (most switch on LOW)', 'no'));
    } finally {
      rl.close();
    }
  }
  const missing = [!o.site && '--site', !o.gate && '--gate', !o.root?.length && '--root'].filter(Boolean);
  if (missing.length) throw new CliError('USAGE', `missing ${missing.join(', ')} (on a terminal, provision asks for them)`, EXIT.USAGE);
  const line = Number(o.relayLine);
  if (!Number.isInteger(line) || line < 0 || line > 1023) throw new CliError('BAD_CONFIG', `--relay-line must be a GPIO line number, got ${o.relayLine}`, EXIT.CONFIG);
  try {
    const r = await provision({
      site: o.site!,
      gate: o.gate!,
      roots: o.root!,
      configFile: o.config,
      dataDir: o.dataDir,
      ...(o.broker ? { brokerUrl: o.broker } : {}),
      ...(o.username ? { username: o.username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.scanner ? { scanner: o.scanner } : {}),
      ...(o.idReader ? { idReader: o.idReader } : {}),
      relayLine: line,
      relayActiveLow: !o.relayActiveHigh,
      simulatedGpio: !!o.simulatedGpio,
      ...(o.csrOut ? { csrOut: o.csrOut } : {}),
      ...(o.cert ? { cert: o.cert } : {}),
      force: !!o.force,
      dryRun: !!o.dryRun,
      root: o.rootDir,
      serviceUser: 'passgate',
    });
    if (!interactive && !o.scanner && !o.idReader) console.log(`devices found (choose with --scanner / --id-reader):\n${list(found)}`);
    for (const s of r.steps) console.log(`${s.outcome.padEnd(12)} ${s.what}`);
    console.log(`\n${o.dryRun ? 'dry run: nothing was written. ' : ''}next:\n${r.next.map((n) => `  ${n}`).join('\n')}`);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof ProvisionError) throw new CliError(e.code, e.message, e.code === 'EXISTS' ? EXIT.EXISTS : EXIT.CONFIG);
    if (e instanceof ConfigError) throw new CliError('BAD_CONFIG', `the configuration would not be valid, nothing written:\n${e.problems.join('\n')}`, EXIT.CONFIG);
    throw e;
  }
}
