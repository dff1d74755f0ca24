/**
 * Logging: pino JSON lines, one child logger per subsystem (`log.child({ mod: 'gate' })`), to
 * stdout (journald under systemd) or to a file.
 *
 * THE RULE: logs never carry an ID number, a name (masked or not) or scanned text — not at any
 * level, not in an error's message. Log handles, reasons, formats, issuers, seqs and counts. The
 * redaction list below is a safety net for the obvious keys, not a licence: a value under another
 * key, or interpolated into a message string, is not caught. Modules hand the logger decisions
 * (handles and codes) and never the Presented input.
 */
import pino, { type Logger as PinoLogger, type LoggerOptions } from 'pino';

/**
 * The process's pino root and its module children: the one Logger (base/log.ts, key `mod`) plus
 * what only the process entry uses (`fatal`, `flush`). Every other module takes base/log.ts's Logger.
 */
export type RootLogger = PinoLogger;

/** Subsystems, for `mod`. */
export type Module = 'main' | 'service' | 'gate' | 'guard' | 'verifier' | 'scanner' | 'idreader' | 'camera' | 'gpio' | 'sync' | 'store';

/** Keys whose values are personal data or raw input, wherever they appear (top level and two levels down). */
export const REDACTED_KEYS = [
  'idNumber',
  'id_number',
  'name',
  'maskedName',
  'displayName',
  'holderName',
  'text',
  'scanned',
  'raw',
  'presented',
  'qr',
  'password',
] as const;
// Not `code` (error codes) nor `line` (GPIO lines): those are what a technician greps for.

/** pino paths for REDACTED_KEYS: `key`, `*.key`, `*.*.key`. */
export function redactPaths(): string[] {
  return REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export interface LogOptions {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  output: 'journald' | 'file';
  file?: string;
}

/**
 * The root logger. `destination` overrides the output (tests pass a stream to read the lines back).
 */
export function createLogger(o: LogOptions, destination?: pino.DestinationStream): RootLogger {
  const options: LoggerOptions = {
    level: o.level,
    base: { pid: process.pid },
    // journald stamps lines itself, but a file needs time, and both stay greppable with it.
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactPaths(), censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err },
  };
  const dest =
    destination ??
    (o.output === 'file' && o.file
      ? pino.destination({ dest: o.file, mkdir: true, sync: false })
      : process.stdout.isTTY
        ? humanLines(process.stdout) // a technician at a terminal; journald and pipes get JSON
        : pino.destination({ dest: 1, sync: false }));
  return pino(options, dest);
}

const LEVEL_WIDTH = 5;

/** One readable line per JSON log line: `12:00:01.234 WARN  [sync] broker lost  reason=timeout`. */
export function humanLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, mod, msg, pid: _pid, hostname: _host, err, ...rest } = o;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const e = err as { message?: string } | undefined;
  if (e?.message) fields.push(`err=${JSON.stringify(e.message)}`);
  return `${t} ${String(level ?? '').toUpperCase().padEnd(LEVEL_WIDTH)} ${mod ? `[${String(mod)}] ` : ''}${String(msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}`;
}

function humanLines(out: NodeJS.WriteStream): pino.DestinationStream {
  return { write: (chunk: string) => void out.write(`${chunk.split('\n').filter(Boolean).map(humanLine).join('\n')}\n`) };
}

/** A child for a subsystem (base/log.ts's `moduleLogger` for any Logger). */
export function moduleLogger(root: RootLogger, mod: Module): RootLogger {
  return root.child({ mod });
}
