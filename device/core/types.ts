/** Shared vocabulary of the decision core (PROTOCOL.md §1, §6, §8). Pure types and constants only. */
import type { InputKind } from '../../base/presented.js';

/** What drivers deliver: the driver contract, on the ground floor (base/presented.ts). */
export type { InputKind, Presented } from '../../base/presented.js';

export type Result = 'open' | 'deny' | 'staff' | 'error';

/** §8 reason codes, in the order the checks run. */
export const REASONS = [
  'UNREADABLE',
  'UNSUPPORTED_FORMAT',
  'BAD_ENCODING',
  'UNKNOWN_KEY',
  'BAD_SIGNATURE',
  'KEY_NOT_VALID',
  'ISSUER_MISMATCH',
  'ISSUER_NOT_ACCEPTED',
  'NOT_YET_VALID',
  'EXPIRED',
  'REVOKED',
  'ID_INVALID',
  'CLOCK_UNTRUSTED',
  'TRUST_STALE',
  'LIST_STALE',
  'HOLDER_UNKNOWN',
  'LOOKUP_TIMEOUT',
  'STATUS_YELLOW',
  'STATUS_RED',
  'REPLAY',
  'OK',
  'GUARD_APPROVED',
  'GUARD_DENIED',
  'INTERNAL',
] as const;
export type Reason = (typeof REASONS)[number];

export type Format = 'HP1' | 'HC1' | 'IDCARD';
export type Alg = 'ES256' | 'EdDSA' | 'SM2SM3' | 'PS256';
export type Action = 'open' | 'deny' | 'staff';
/** 1 green, 2 yellow, 3 red (§2, §5). */
export type Status = 1 | 2 | 3;
export type ListName = 'tokens' | 'holders';
export const LIST_NAMES: readonly ListName[] = ['tokens', 'holders'];

export interface Policy {
  version: number;
  status: { green: Action; yellow: Action; red: Action };
  dcc: Action;
  unknownHolder: Action | 'online';
  lookupTimeoutMs: number;
  /** `open` here means "carry on regardless" (documented extension: §6 names deny or staff). */
  staleTrust: Action;
  clockUntrusted: Action;
  maxClockSkewSeconds: number;
  antiPassbackSeconds: number;
  acceptFormats: Format[];
  acceptIssuers: string[];
  listMaxAgeSeconds: number;
  pulseMs: number;
}

export interface Decision {
  result: Result;
  reason: Reason;
  input: InputKind;
  format: Format | null;
  issuer: string | null;
  status: Status | null;
  /** Token handle (§2) or holder handle (§5): never the ID number or the scanned text. */
  handle: string | null;
  kid: string | null;
  /** Masked display name for the guard's screen; held in memory only, never recorded. */
  displayName: string | null;
  /** Short technical detail for logs (never personal data). */
  detail: string | null;
  /** Set when a `set-mode` override replaced the result (device/core/mode.ts). */
  mode?: 'open' | 'deny' | 'staff';
}

export interface ListEntry {
  s: 0 | Status;
  at: number;
  until: number;
}

export interface ListMeta {
  version: number;
  /** When the list was last brought up to date, ms since epoch; null if never. */
  updatedAtMs: number | null;
}
