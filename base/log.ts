/**
 * The one logger type every layer takes: the subset of pino's API the code uses, so a pino logger
 * (or a child of one) fits as is. Subsystems are told apart by ONE key, `mod` (`{"mod":"gpio"}`,
 * `{"mod":"sync:outbox"}`). Library modules never write to the console themselves: they take a
 * Logger with `SILENT` as the default.
 *
 * The ground floor: imports nothing of the project.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** pino's `child`; optional so that a plain object of four functions is a Logger too. */
  child?(bindings: { mod: string }): Logger;
}

const noop = (): void => {};

/** Drops everything. */
export const SILENT: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** A child for a subsystem (`mod`) when the logger supports it (pino does), else the logger itself. */
export function moduleLogger(log: Logger, mod: string): Logger {
  return typeof log.child === 'function' ? log.child({ mod }) : log;
}

/** Short text of an unknown thrown value, for `lastError` and log fields. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * One log line per `everyMs` for a recurring condition (resource exhaustion, a flood of forged
 * messages): what such a flood may cost the log. The first occurrence is logged at once, later ones
 * are counted and the count (`suppressed`) goes out with the next line. Keyed, so different
 * conditions do not silence each other.
 */
export class RateLimitedLog {
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly everyMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** One warning per period for `key` (a condition, a reason code); `msg` defaults to the key. */
  warn(key: string, fields: object, msg: string = key): boolean {
    return this.#emit('warn', key, fields, msg);
  }

  error(key: string, fields: object, msg: string = key): boolean {
    return this.#emit('error', key, fields, msg);
  }

  #emit(level: 'warn' | 'error', key: string, fields: object, msg: string): boolean {
    const t = this.now();
    const seen = this.#last.get(key);
    if (seen && t - seen.at < this.everyMs) {
      seen.suppressed++;
      return false;
    }
    this.log[level]({ ...fields, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, msg);
    this.#last.set(key, { at: t, suppressed: 0 });
    return true;
  }
}
