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
