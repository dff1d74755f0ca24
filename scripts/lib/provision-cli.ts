/**
 * The terminal side of `passgate provision`: flags first; on a terminal, a question (node:readline,
 * the default in brackets, taken on an empty answer) for whatever the flags left out, each answer
 * checked as it is given and asked again with the reason when refused; the MQTT password typed twice
 * without echo; Ctrl-D or Ctrl-C at any question stops with nothing written (exit 64). Then
 * app/provision.ts does the work. Without a terminal every required value must come as a flag
 * (scripts), else a usage error.
 */
import { createInterface, type Interface } from 'node:readline/promises';
import { isPassgateError } from '../../base/errors.js';
import { ConfigError } from '../../device/config.js';
import { checkGateId, checkSiteId } from '../../sync/topics.js';
import { ProvisionError, checkBrokerUrl, checkNotAnotherGate, checkRootKey, describeDevice, discoverDevices, pickDevice, provision, type DeviceRole, type FoundDevice } from '../../app/provision.js';
import { CliError, EXIT, readPassword, unanswered } from './cli.js';

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
  relayLine?: string;
  relayActiveHigh?: boolean;
  relayActiveLow?: boolean;
  simulatedGpio?: boolean;
  csrOut?: string;
  cert?: string;
  listDevices?: boolean;
  force?: boolean;
  dryRun?: boolean;
  rootDir: string;
}

const DEFAULT_RELAY_LINE = '17';

/** The relay line a flag or an answer names, or undefined when it is not a GPIO line number. */
const relayLineOf = (text: string): number | undefined => (/^\d+$/.test(text) && Number(text) <= 1023 ? Number(text) : undefined);

/** Why `check` refuses an answer (its message), or undefined when it does not. */
function refusal(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.join('; ');
    if (isPassgateError(e)) return e.detail;
    if (e instanceof ProvisionError) return e.message;
    throw e;
  }
}

/** Questions on the terminal, one readline at a time; the password prompt has the terminal to itself. */
class Questions {
  #rl: Interface | undefined;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {}

  /**
   * Asks until an answer passes `check` (which returns why not). An empty answer is `dflt`, or,
   * without one, refused unless `optional`. Ctrl-D, Ctrl-C or the end of input throw `unanswered`.
   * `what` names the value in those messages (default: the question).
   */
  async ask(question: string, o: { what?: string; dflt?: string; optional?: boolean; check?: (answer: string) => string | undefined } = {}): Promise<string> {
    const what = o.what ?? question;
    for (;;) {
      const rl = (this.#rl ??= createInterface({ input: this.input, output: this.output }));
      let onClose!: () => void;
      // readline rejects a pending question on Ctrl-D and Ctrl-C (ABORT_ERR) but leaves it pending when
      // its input just ends (a terminal hung up): its 'close' covers that.
      const closed = new Promise<never>((_, reject) => rl.once('close', (onClose = () => reject(new Error('closed')))));
      let typed: string;
      try {
        typed = await Promise.race([rl.question(`${question}${o.dflt ? ` [${o.dflt}]` : ''}: `), closed]);
      } catch (e) {
        if (!(e instanceof Error && (e.message === 'closed' || (e as { code?: unknown }).code === 'ABORT_ERR'))) throw e;
        this.close();
        this.output.write('\n');
        throw unanswered(what);
      } finally {
        rl.off('close', onClose);
      }
      const answer = typed.trim() || o.dflt || '';
      const problem = answer ? o.check?.(answer) : o.optional ? undefined : `a ${what} is needed`;
      if (problem === undefined) return answer;
      this.output.write(`  ${problem}\n`);
    }
  }

  /** A password typed twice without echo (the helper `passgate guard add` uses); asked again when the two differ. */
  async password(label: string, what: string): Promise<string> {
    this.close();
    for (;;) {
      try {
        return await readPassword(this.input, this.output, { label, what });
      } catch (e) {
        if (!(isPassgateError(e) && e.code === 'BAD_CONFIG')) throw e;
        this.output.write(`  ${e.detail}: once more\n`);
      }
    }
  }

  close(): void {
    this.#rl?.close();
    this.#rl = undefined;
  }
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
    const q = new Questions(process.stdin, process.stdout);
    try {
      o.site ??= await q.ask('site id', { check: (a) => refusal(() => checkSiteId(a)) });
      o.gate ??= await q.ask('gate id', { check: (a) => refusal(() => checkGateId(a)) });
      // Said now, not after every other question: this directory is another gate's.
      try {
        checkNotAnotherGate(o.dataDir, o.site, o.gate, { root: o.rootDir, force: !!o.force });
      } catch (e) {
        throw e instanceof ProvisionError ? new CliError(e.code, e.message, EXIT.EXISTS) : e;
      }
      if (!o.root?.length) o.root = [await q.ask('federation root public key (base64url SPKI)', { what: 'federation root public key', check: (a) => refusal(() => checkRootKey(a)) })];
      if (o.broker === undefined) o.broker = (await q.ask('MQTT broker URL (empty: offline gate)', { what: 'MQTT broker URL', optional: true, check: (a) => refusal(() => checkBrokerUrl(a)) })) || undefined;
      if (o.broker && o.username === undefined) o.username = (await q.ask('MQTT username (empty: none or client certificate)', { what: 'MQTT username', optional: true })) || undefined;
      if (o.broker && o.username && password === undefined) password = await q.password('MQTT password (not shown)', 'MQTT password');
      if (!o.scanner || !o.idReader) console.log(`devices found:\n${list(found)}`);
      /** A number from the list, "simulated" or "none", as the path or word provision takes. */
      const choiceOf = (a: string) => (/^\d+$/.test(a) ? found[Number(a) - 1]?.path : /^(none|simulated)$/i.test(a) ? a.toLowerCase() : a);
      const choose = (role: DeviceRole, name: string, other?: FoundDevice) =>
        q.ask(`which is the ${name}? number, "simulated" or "none"`, {
          what: name,
          dflt: 'none',
          check: (a) => {
            const choice = choiceOf(a);
            if (choice === undefined) return found.length ? `${a} is not a device number (1–${found.length})` : 'no device was found: answer "simulated" or "none"';
            return refusal(() => pickDevice(role, choice, found, other));
          },
        }).then(choiceOf) as Promise<string>;
      o.scanner ||= await choose('qrscanner', 'code scanner');
      let scannerDev: FoundDevice | undefined;
      try {
        scannerDev = pickDevice('qrscanner', o.scanner, found);
      } catch {
        // a --scanner that names no device found: provision() below refuses it
      }
      o.idReader ||= await choose('idreader', 'ID-card reader', scannerDev);
      o.relayLine ??= await q.ask('relay GPIO line (BCM)', { what: 'relay GPIO line', dflt: DEFAULT_RELAY_LINE, check: (a) => (relayLineOf(a) === undefined ? `${a} is not a GPIO line number (0–1023)` : undefined) });
      if (!o.relayActiveHigh && !o.relayActiveLow) {
        const a = await q.ask('does the relay board switch on with its input HIGH? (most switch on LOW)', { what: 'relay polarity', dflt: 'no', check: (a) => (/^(y|yes|n|no)$/i.test(a) ? undefined : 'answer yes or no') });
        o.relayActiveHigh = /^y/i.test(a);
      }
    } finally {
      q.close();
    }
  }
  if (o.relayActiveHigh && o.relayActiveLow) throw new CliError('USAGE', '--relay-active-high and --relay-active-low: one or the other', EXIT.USAGE);
  const missing = [!o.site && '--site', !o.gate && '--gate', !o.root?.length && '--root'].filter(Boolean);
  if (missing.length) throw new CliError('USAGE', `missing ${missing.join(', ')} (on a terminal, provision asks for them)`, EXIT.USAGE);
  const line = relayLineOf(o.relayLine ?? DEFAULT_RELAY_LINE);
  if (line === undefined) throw new CliError('BAD_CONFIG', `--relay-line must be a GPIO line number (0–1023), got ${o.relayLine}`, EXIT.CONFIG);
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
