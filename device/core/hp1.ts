/**
 * HP1, the passgate health code (§2): `HP1:` + Base45(COSE_Sign1). Order: limits → Base45 → CBOR →
 * protected header → every trusted key with that kid until one verifies → claims. Nothing in the
 * payload is acted upon before the signature verifies.
 */
import { createHash } from 'node:crypto';
import type { Alg, Status } from './types.js';
import type { Trust, TrustedKey } from './trust.js';
import { findSigner, type Credential, type VerifyOutcome } from './credential.js';
import { base45Decode } from './base45.js';
import { CoseFormatError, decodeCbor, decodeCoseSign1, type CborLimits } from './cose.js';
import { displayName } from '../../base/display.js';

export const HP1_PREFIX = 'HP1:';
export const HP1_MAX_CHARS = 1024;
export const HP1_LIMITS: CborLimits = { maxMapEntries: 32, maxStringBytes: 256 };

const COSE_ALGS = new Map<number, Alg>([
  [-7, 'ES256'],
  [-8, 'EdDSA'],
  [-65537, 'SM2SM3'],
]);
const HP_CLAIM = -70000;
const DAY = 86400;
/** §2: dynamic codes live up to 24 h, paper codes up to 200 days. */
const MAX_LIFETIME = { 1: DAY, 2: 200 * DAY } as const;

export function verifyHp1(text: string, trust: Trust | null): VerifyOutcome {
  const fail = (reason: 'BAD_ENCODING' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE', detail: string, kid: string | null = null) =>
    ({ ok: false, reason, detail, kid }) as const;

  if (text.length > HP1_MAX_CHARS) return fail('BAD_ENCODING', `code longer than ${HP1_MAX_CHARS} characters`);
  const bytes = base45Decode(text.slice(HP1_PREFIX.length));
  if (!bytes) return fail('BAD_ENCODING', 'not Base45');

  let cose;
  let payload: unknown;
  try {
    cose = decodeCoseSign1(bytes, HP1_LIMITS);
    payload = decodeCbor(cose.payload, HP1_LIMITS);
  } catch (e) {
    if (e instanceof CoseFormatError) return fail('BAD_ENCODING', e.message);
    throw e;
  }
  const algId = cose.protectedHeader.get(1);
  const kidBytes = cose.protectedHeader.get(4);
  if (typeof algId !== 'number') return fail('BAD_ENCODING', 'protected header has no alg');
  if (!(kidBytes instanceof Uint8Array) || kidBytes.length !== 8) return fail('BAD_ENCODING', 'protected header has no 8-byte kid');
  if (!(payload instanceof Map)) return fail('BAD_ENCODING', 'payload is not a map');
  const kid = Buffer.from(kidBytes).toString('hex');

  const key = findSigner(trust, 'HP1', kid, COSE_ALGS.get(algId), cose, algId);
  if ('reason' in key) return key;

  const claims = readClaims(payload);
  if (typeof claims === 'string') return fail('BAD_ENCODING', claims, kid);
  return { ok: true, credential: credentialOf(claims, key) };
}

interface Hp1Claims {
  iss: string;
  iat: number;
  exp: number;
  cti: Uint8Array;
  st: Status;
  sat: number;
  kind: 1 | 2;
  nm: string | null;
}

/** Returns the claims, or what is wrong with them. */
function readClaims(payload: Map<unknown, unknown>): Hp1Claims | string {
  const iss = payload.get(1);
  const iat = payload.get(6);
  const exp = payload.get(4);
  const cti = payload.get(7);
  const hp = payload.get(HP_CLAIM);
  if (typeof iss !== 'string' || iss.length < 1 || iss.length > 32) return 'iss must be a 1–32 character string';
  if (!isInt(iat) || !isInt(exp)) return 'iat and exp must be integers';
  if (exp <= iat) return 'exp must be after iat';
  if (!(cti instanceof Uint8Array) || cti.length < 8 || cti.length > 16) return 'cti must be 8–16 bytes';
  if (!(hp instanceof Map)) return 'hp claims missing';
  const st = hp.get(1);
  const sat = hp.get(2);
  const kind = hp.get(3) as unknown;
  const hb = hp.get(4);
  const hs = hp.get(5);
  const nm = hp.get(6);
  if (st !== 1 && st !== 2 && st !== 3) return 'hp.st must be 1, 2 or 3';
  if (!isInt(sat)) return 'hp.sat must be an integer';
  if (kind !== 1 && kind !== 2) return 'hp.kind must be 1 or 2';
  const k: 1 | 2 = kind;
  if (exp - iat > MAX_LIFETIME[k]) return `a ${k === 1 ? 'dynamic' : 'paper'} code may not live that long`;
  if ((hb === undefined) !== (hs === undefined)) return 'hp.hb and hp.hs go together';
  if (hb !== undefined && !(is16(hb) && is16(hs))) return 'hp.hb and hp.hs must be 16 bytes';
  if (nm !== undefined && typeof nm !== 'string') return 'hp.nm must be a string';
  return { iss, iat, exp, cti, st, sat, kind: k, nm: nm ?? null };
}

function credentialOf(c: Hp1Claims, key: TrustedKey): Credential {
  let keyProblem: string | null = null;
  if (key.notBefore !== null && c.iat < key.notBefore) keyProblem = 'code issued before the key became valid';
  else if (key.notAfter !== null && c.exp > key.notAfter) keyProblem = 'code outlives the key';
  return {
    format: 'HP1',
    kid: key.kid,
    issuer: key.issuer!,
    keyProblem,
    issuerMismatch: c.iss !== key.issuer,
    iat: c.iat,
    exp: c.exp,
    expInclusive: false,
    handle: tokenHandle(c.iss, c.cti),
    status: c.st,
    statusAt: c.sat,
    paper: c.kind === 2,
    displayName: displayName(c.nm), // §2: never as given
  };
}

/** `hex(H16(UTF-8(iss) ‖ 0x00 ‖ cti))` */
export function tokenHandle(iss: string, cti: Uint8Array): string {
  return createHash('sha256').update(iss, 'utf8').update(Uint8Array.of(0)).update(cti).digest().subarray(0, 16).toString('hex');
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function is16(v: unknown): boolean {
  return v instanceof Uint8Array && v.length === 16;
}
