/**
 * The conventions both command lines share: `-V, --version` on every command, every option described
 * and the required ones marked, a command that needs arguments prints its help when given none, one
 * line per error with its reason code once, no stack trace without `--debug`, and documented exit
 * codes (EXIT below, printed under every help).
 */
import { Command, CommanderError, type Option } from 'commander';
import { readFileSync } from 'node:fs';
import { isPassgateError } from '../../base/errors.js';

/** Exit codes (sysexits.h where one fits). */
export const EXIT = {
  OK: 0,
  /** Something was refused (an envelope, an input) or, for doctor/selftest, the worst check is a WARN. */
  REFUSED: 1,
  /** doctor/selftest: a check FAILed. */
  FAIL: 2,
  /** EX_USAGE: unknown option, missing option or argument. */
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
  64  usage error (unknown option, missing option or argument)
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
