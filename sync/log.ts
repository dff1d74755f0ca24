/**
 * The logger the sync layer takes: the subset of pino's API it uses, so a pino logger (or a child of
 * one) fits as is. Library modules never write to the console themselves.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

export const SILENT: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** A namespaced child when the logger supports it (pino does), else the logger itself. */
export function childLogger(log: Logger, ns: string): Logger {
  const child = (log as { child?: (bindings: object) => Logger }).child;
  return typeof child === 'function' ? child.call(log, { ns }) : log;
}

/**
 * One log line per key (a reason code) per `intervalMs` at most: what a flood of forged messages may
 * cost the log. The line after a quiet spell says how many were suppressed since the last one.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  warn(key: string, obj: object, msg: string): void {
    const now = this.nowMs();
    const seen = this.last.get(key);
    if (seen && now - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.log.warn({ ...obj, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, msg);
    this.last.set(key, { atMs: now, suppressed: 0 });
  }
}
