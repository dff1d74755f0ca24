/** What a format verifier (HP1, HC1) hands the decision pipeline once a signature has verified. */
import type { Alg, Format, Reason, Status } from './types.js';
import type { Trust, TrustedKey } from './trust.js';
import { sigStructure, type CoseSign1 } from './cose.js';

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

type VerifyFailure = Extract<VerifyOutcome, { ok: false }>;

/**
 * Every trusted key of `format` with this kid and algorithm, tried until one verifies (a kid may
 * name more than one key). UNKNOWN_KEY when there is none, BAD_SIGNATURE when none verifies.
 */
export function findSigner(trust: Trust | null, format: Credential['format'], kid: string, alg: Alg | undefined, cose: CoseSign1, algId: unknown): TrustedKey | VerifyFailure {
  const candidates = alg ? (trust?.keysByKid.get(kid) ?? []).filter((k) => k.alg === alg && k.formats.includes(format)) : [];
  if (candidates.length === 0) return { ok: false, reason: 'UNKNOWN_KEY', detail: `no trusted ${format} key ${kid} for alg ${String(algId)}`, kid };
  const toBeSigned = sigStructure(cose.protectedBytes, cose.payload);
  const key = candidates.find((k) => k.verify(toBeSigned, cose.signature));
  return key ?? { ok: false, reason: 'BAD_SIGNATURE', detail: `signature does not verify with ${candidates.length} key(s)`, kid };
}
