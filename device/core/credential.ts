/** What a format verifier (HP1, HC1) hands the decision pipeline once a signature has verified. */
import type { Format, Reason, Status } from './types.js';

export interface Credential {
  format: Exclude<Format, 'IDCARD'>;
  kid: string;
  /** The trust-bundle issuer that owns the key. */
  issuer: string;
  /** Why the key's validity or usage does not cover this code (→ KEY_NOT_VALID), or null. */
  keyProblem: string | null;
  /** The code names another issuer than the key's owner (→ ISSUER_MISMATCH). */
  issuerMismatch: boolean;
  iat: number;
  exp: number;
  /** HC1 is valid up to and including `exp` (§3); HP1 until just before it (§2). */
  expInclusive: boolean;
  /** Token handle (§2) or DCC handle (§3): what lists and anti-passback key on. */
  handle: string;
  /** Embedded status; null for formats without one (HC1). */
  status: Status | null;
  statusAt: number | null;
  /** Paper codes need a fresh `tokens` list (§2). */
  paper: boolean;
  displayName: string | null;
}

export type VerifyOutcome =
  | { ok: true; credential: Credential }
  | { ok: false; reason: Extract<Reason, 'BAD_ENCODING' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE'>; detail: string; kid: string | null };
