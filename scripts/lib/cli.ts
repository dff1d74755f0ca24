/**
 * The conventions both command lines share: `-V, --version` on every command, every option described
 * and the required ones marked, a command that needs arguments prints its help when given none, one
 * line per error with its reason code once, no stack trace without `--debug`, and documented exit
 * codes (EXIT below, printed under every help).
 */
import { Command, CommanderError, type Option } from 'commander';
import { readFileSync } from 'node:fs';
import { isPassgateError, PassgateError } from '../../base/errors.js';

/** Exit codes (sysexits.h where one fits). */
export const EXIT = {
  OK: 0,
  /** Something was refused (an envelope, an input) or, for doctor/selftest, the worst check is a WARN. */
  REFUSED: 1,
  /** doctor/selftest: a check FAILed. */
  FAIL: 2,
  /** EX_USAGE: unknown option, missing option or argument, or a prompt left unanswered (Ctrl-D, Ctrl-C). */
  USAGE: 64,
  /** EX_NOINPUT: no gate store at the path given, or an input file missing. */
  NO_INPUT: 66,
  /** EX_SOFTWARE: an internal error (a bug): rerun with --debug for the stack trace. */
  SOFTWARE: 70,
  /** EX_CANTCREAT: would replace something that exists (a gate identity, a key, a federation) without --force. */
  EXISTS: 73,
  /** EX_CONFIG: a configuration file or option value is not valid. */
  CONFIG: 78,
} as const;

export const EXIT_HELP = `
Exit status:
  0   success
  1   something was refused (its reason code is printed); doctor/selftest: worst check WARN
  2   doctor/selftest: a check FAILed
  64  usage error (unknown option, missing option or argument, a prompt left unanswered)
  66  no gate store at the path given, or an input file is missing
  70  internal error (--debug prints the stack trace)
  73  would replace an existing identity, key or federation (use --force)
  78  invalid configuration or option value`;

/** The package version (from dist/scripts/lib or, under vitest, scripts/lib). */
export const VERSION: string = (() => {
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'passgate') return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
})();

/** An error the command line reports as one line, `prog: CODE: message`, with an exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.REFUSED,
    /** What went wrong underneath (its stack is printed with --debug). */
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** Applies the conventions to a program whose commands are all defined. */
export function conventional(program: Command): Command {
  program.exitOverride();
  // Program options only before the command: `passgate-issuer trust --version 3` is the bundle's version.
  program.enablePositionalOptions();
  program.version(VERSION, '-V, --version', 'print the version and exit');
  program.helpOption('-h, --help', 'print this help');
  program.addHelpText('after', EXIT_HELP);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    const hasVersionOption = cmd.options.some((o) => o.long === '--version');
    // `passgate-issuer trust --version N` (the bundle version) is a contract: there, -V alone prints ours.
    cmd.version(VERSION, hasVersionOption ? '-V' : '-V, --version', `print the ${program.name()} version and exit`);
    cmd.option('--debug', 'print the stack trace of an internal error');
    cmd.helpOption('-h, --help', 'print this help');
    for (const o of cmd.options as Option[]) {
      if (o.mandatory && !o.description.includes('(required)')) o.description = `${o.description} (required)`;
    }
    cmd.addHelpText('after', EXIT_HELP);
  }
  return program;
}

/** Needs something from the user: a mandatory option or a required argument. */
function needsArguments(cmd: Command): boolean {
  return cmd.options.some((o) => o.mandatory) || cmd.registeredArguments.some((a) => a.required);
}

/**
 * Parses and runs; never throws. Reason codes of PassgateError-like errors (`code` + message ending
 * in ` (CODE)`) are printed once.
 */
export async function runCli(
  program: Command,
  o: { argv?: readonly string[]; exitFor?: (e: { code: string }) => number; plainErrors?: 'internal' | 'refused' } = {},
): Promise<void> {
  const argv = o.argv ?? process.argv;
  const exitFor = o.exitFor ?? (() => EXIT.REFUSED);
  const args = argv.slice(2);
  const debug = args.includes('--debug');
  const name = program.name();
  const sub = args.length === 1 ? program.commands.find((c) => c.name() === args[0] || c.aliases().includes(args[0]!)) : undefined;
  if (args.length === 0 || (sub && needsArguments(sub))) {
    (sub ?? program).outputHelp();
    process.exitCode = EXIT.OK;
    return;
  }
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its message (or the help/version) already.
      process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    if (e instanceof CliError) {
      process.stderr.write(`${name}: ${e.code}: ${e.message}\n`);
      if (debug) process.stderr.write(`${(e.cause as Error | undefined)?.stack ?? e.stack}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    const coded = e as { code?: unknown; message?: string; stack?: string };
    if (e instanceof Error && typeof coded.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(coded.code)) {
      let message = isPassgateError(e) ? e.detail : e.message;
      if (message.startsWith(`${coded.code}: `)) message = message.slice(coded.code.length + 2); // Node's system errors
      if (coded.code === 'ENOENT') {
        process.stderr.write(`${name}: ${coded.code}: ${message}\n`);
        process.exitCode = EXIT.NO_INPUT;
        return;
      }
      process.stderr.write(`${name}: ${coded.code}: ${message}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = exitFor({ code: coded.code });
      return;
    }
    if (o.plainErrors === 'refused' && e instanceof Error) {
      // A tool whose plain errors are about its input (a missing federation, an unknown issuer).
      process.stderr.write(`${name}: ${e.message}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = EXIT.REFUSED;
      return;
    }
    process.stderr.write(`${name}: INTERNAL: ${e instanceof Error ? e.message : String(e)}${debug ? '' : ' (rerun with --debug for the stack trace)'}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = EXIT.SOFTWARE;
  }
}

/** Ctrl-D or Ctrl-C at a prompt (or the terminal's input ended): the command stops before it changes anything. */
export function unanswered(what: string): CliError {
  return new CliError('ABORTED', `no ${what} given: nothing was written`, EXIT.USAGE);
}

/**
 * A password: read from standard input when it is not a terminal (first line; scripts), or typed
 * twice without echo when it is (`label`: the first prompt; `what`: the password's name in the
 * message). Two that differ are a BAD_CONFIG PassgateError; Ctrl-D or Ctrl-C at either prompt is
 * `unanswered`.
 */
export async function readPassword(
  stdin: NodeJS.ReadStream = process.stdin,
  prompt: NodeJS.WriteStream = process.stderr,
  { label = 'password', what = 'password' }: { label?: string; what?: string } = {},
): Promise<string> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of stdin as AsyncIterable<Buffer>) {
      chunks.push(c);
      size += c.length;
      if (size > 64 * 1024) throw new PassgateError('BAD_CONFIG', 'the password on standard input is too long');
    }
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const first = await hidden(stdin, prompt, label, what);
  const again = await hidden(stdin, prompt, 'again', what);
  if (first !== again) throw new PassgateError('BAD_CONFIG', 'the two passwords differ');
  return first;
}

/** One line from the terminal with echo off (raw mode: nothing typed is shown). */
function hidden(stdin: NodeJS.ReadStream, out: NodeJS.WriteStream, question: string, what: string): Promise<string> {
  // Echo off before the prompt invites typing.
  stdin.setRawMode(true);
  out.write(`${question}: `);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let buf: string[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      out.write('\n');
    };
    const onEnd = () => {
      finish();
      reject(unanswered(what));
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          return resolve(buf.join(''));
        }
        if (ch === '\u0003' || ch === '\u0004') return onEnd();
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else if (ch >= ' ') buf.push(ch);
      }
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
  });
}
