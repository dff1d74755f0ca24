import type { DriverLogger } from '../types.js';

const noop = (): void => {};

/** The default logger: drops everything (library modules never print). */
export const silentLogger: DriverLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** Short text of an unknown thrown value, for `lastError` and log fields. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
