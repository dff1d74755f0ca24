/**
 * One error class with stable codes, as zwave-js does: callers branch on `code`, never on messages.
 * Decision reasons (§8) are reused where an envelope fails for the same cause.
 */
import type { Reason } from './types.js';

export type ErrorCode =
  | Extract<Reason, 'BAD_ENCODING' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'NOT_YET_VALID' | 'EXPIRED' | 'INTERNAL'>
  /** Envelope `typ` does not fit where it arrived. */
  | 'WRONG_TYPE'
  /** Trust bundle or policy with a lower version than the one held. */
  | 'DOWNGRADE'
  /** List delta whose `from` is not the version held. */
  | 'LIST_GAP'
  /** Snapshot whose entries do not number `count`. */
  | 'COUNT_MISMATCH'
  /** Command or ack for another gate (`aud` is `<site>/<gate>`). */
  | 'WRONG_AUDIENCE'
  /** Command counter not above the last accepted. */
  | 'REPLAYED'
  /** Events ack above the last seq the gate assigned. */
  | 'ACK_BEYOND_LAST_SEQ'
  | 'NOT_INITIALISED'
  | 'ALREADY_INITIALISED'
  | 'BAD_CONFIG'
  | 'STORE_FAILED';

export class PassgateError extends Error {
  override readonly name = 'PassgateError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context?: Record<string, unknown>,
  ) {
    super(`${message} (${code})`);
  }
}

export function isPassgateError(e: unknown): e is PassgateError {
  return e instanceof PassgateError;
}
