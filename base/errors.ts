/**
 * One error class for the whole gate, the zwave-js way: every error carries a stable string `code`
 * (what callers branch on, what the CLI prints, what a command reply carries) and a numeric `number`
 * in a range per area, so a technician can tell where an error comes from at a glance. Messages are
 * for people and may change; codes never do.
 *
 * | range | area     | codes |
 * |-------|----------|-------|
 * | 1     | general  | INTERNAL (a bug or an unclassified failure) |
 * | 1xx   | config   | 100 BAD_CONFIG (an option out of range or missing) |
 * | 2xx   | driver   | 200 DRIVER_CLOSED, 201 NOT_AN_OUTPUT, 202 DEVICE_NOT_FOUND, 203 LINE_IN_USE, 204 DEVICE_IO, 205 RESOURCE_EXHAUSTED, 206 DEVICE_TIMEOUT, 207 FRAME_TOO_LONG, 208 CANNOT_TYPE |
 * | 3xx   | store    | 300 STORE_FAILED, 301 NOT_INITIALISED, 302 ALREADY_INITIALISED |
 * | 4xx   | link     | 400 LINK_TIMEOUT, 401 LINK_DOWN |
 * | 5xx   | envelope | 500 BAD_ENCODING, 501 UNKNOWN_KEY, 502 BAD_SIGNATURE, 503 NOT_YET_VALID, 504 EXPIRED, 505 WRONG_TYPE, 506 DOWNGRADE, 507 LIST_GAP, 508 COUNT_MISMATCH, 509 WRONG_AUDIENCE, 510 REPLAYED, 511 ACK_BEYOND_LAST_SEQ |
 *
 * The envelope codes that name a §8 decision reason (BAD_ENCODING, UNKNOWN_KEY, BAD_SIGNATURE,
 * NOT_YET_VALID, EXPIRED, INTERNAL) are spelled as that reason, so an envelope refused for the same
 * cause as a code reads the same. Numbers are appended to the message as `(CODE PG500)`.
 *
 * The ground floor: imports nothing of the project.
 */

export const ERROR_NUMBERS = {
  INTERNAL: 1,

  /** An option missing, of the wrong type or out of its range (the message names it and the range). */
  BAD_CONFIG: 100,

  /** A driver or line used after close(). */
  DRIVER_CLOSED: 200,
  /** A write to a line claimed as an input. */
  NOT_AN_OUTPUT: 201,
  /** The device, GPIO chip, HID interface or helper program is not there. */
  DEVICE_NOT_FOUND: 202,
  /** The GPIO line is claimed already. */
  LINE_IN_USE: 203,
  /** A read, write, open or spawn on a device failed (errno in `context.errno`). */
  DEVICE_IO: 204,
  /** The process is short of something (EMFILE, ENFILE, EAGAIN, ENOMEM): survived by a retry. */
  RESOURCE_EXHAUSTED: 205,
  /** A device did not answer or appear in time. */
  DEVICE_TIMEOUT: 206,
  /** A frame to send is longer than its protocol allows. */
  FRAME_TOO_LONG: 207,
  /** A simulated keyboard cannot type a character with its layout. */
  CANNOT_TYPE: 208,

  STORE_FAILED: 300,
  /** The data directory has no gate identity: run `passgate init`. */
  NOT_INITIALISED: 301,
  ALREADY_INITIALISED: 302,

  /** The broker did not answer in time. */
  LINK_TIMEOUT: 400,
  /** Not connected to the broker. */
  LINK_DOWN: 401,

  /** Bytes that are not the JSON, base64url, UTF-8 or shape expected (payloads, envelopes, topics). */
  BAD_ENCODING: 500,
  UNKNOWN_KEY: 501,
  BAD_SIGNATURE: 502,
  NOT_YET_VALID: 503,
  EXPIRED: 504,
  /** Envelope `typ` does not fit where it arrived. */
  WRONG_TYPE: 505,
  /** Trust bundle or policy with a lower version than the one held. */
  DOWNGRADE: 506,
  /** List delta whose `from` is not the version held. */
  LIST_GAP: 507,
  /** Snapshot whose entries do not number `count`. */
  COUNT_MISMATCH: 508,
  /** Command or ack for another gate (`aud` is `<site>/<gate>`). */
  WRONG_AUDIENCE: 509,
  /** Command counter not above the last accepted. */
  REPLAYED: 510,
  /** Events ack above the last seq the gate assigned. */
  ACK_BEYOND_LAST_SEQ: 511,
} as const;

export type ErrorCode = keyof typeof ERROR_NUMBERS;

export type ErrorArea = 'general' | 'config' | 'driver' | 'store' | 'link' | 'envelope';

/** The area of an error number: its hundreds. */
export function errorArea(number: number): ErrorArea {
  const areas: readonly ErrorArea[] = ['general', 'config', 'driver', 'store', 'link', 'envelope'];
  return areas[Math.floor(number / 100)] ?? 'general';
}

export class PassgateError extends Error {
  override readonly name = 'PassgateError';
  /** The code's number (see the table above); 1 for a code this build does not know. */
  readonly number: number;
  /** The message without the code suffix, for printers that show the code themselves. */
  readonly detail: string;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context?: Record<string, unknown>,
  ) {
    const number = (ERROR_NUMBERS as Record<string, number>)[code] ?? ERROR_NUMBERS.INTERNAL;
    super(`${message} (${code} PG${String(number).padStart(3, '0')})`);
    this.number = number;
    this.detail = message;
  }

  get area(): ErrorArea {
    return errorArea(this.number);
  }
}

export function isPassgateError(e: unknown): e is PassgateError {
  return e instanceof PassgateError;
}

/** Errno codes that mean the process (or the system) is short of a resource, not that a device failed. */
const EXHAUSTION = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'ENOSPC']);

/** The same, as strerror() words: native bindings (bindings-cpp's open) give the text without a code. */
const EXHAUSTION_TEXT = /\b(EMFILE|ENFILE|ENOMEM)\b|too many open files|cannot allocate memory/i;

/** Whether an error is resource exhaustion: survived with a retry, never a crash. */
export function isResourceExhaustion(e: unknown): boolean {
  if (e instanceof PassgateError) return e.code === 'RESOURCE_EXHAUSTED';
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return EXHAUSTION.has(code);
  return e instanceof Error && EXHAUSTION_TEXT.test(e.message);
}

/**
 * A device error as a PassgateError: `RESOURCE_EXHAUSTED` for EMFILE and friends, otherwise
 * `DEVICE_IO`, with the errno kept in the context. A PassgateError passes through unchanged.
 */
export function deviceError(err: unknown, what: string): PassgateError {
  if (err instanceof PassgateError) return err;
  const e = err as NodeJS.ErrnoException;
  const text = `${what}: ${e?.code ?? ''} ${e?.message ?? String(err)}`.replace(/\s+/g, ' ').trim();
  return new PassgateError(isResourceExhaustion(err) ? 'RESOURCE_EXHAUSTED' : 'DEVICE_IO', text, { errno: e?.code });
}
