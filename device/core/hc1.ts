/**
 * HC1, the EU Digital COVID Certificate (§3; HCERT = ehn-dcc-development/eu-dcc-hcert-spec v1.0.8):
 * `HC1:` + Base45(zlib(COSE_Sign1(CWT))). Order, as for HP1: limits → prefix → Base45 → inflate →
 * COSE/CBOR → header → every trusted HC1 key with that kid and alg until one verifies → claims.
 * Nothing in the payload is acted upon before the signature verifies; time, issuer acceptance, lists
 * and policy are the decision core's (decide.ts), from the Credential built here.
 *
 * Points the specification leaves open, settled as deployed verifiers and the EU test vectors
 * (eu-digital-green-certificates/dgc-testdata) settle them:
 * - zlib (RFC 1950) is required: an uncompressed COSE_Sign1 after Base45 is BAD_ENCODING (vector
 *   common/Z2 "Not compressed" expects EXPECTEDCOMPRESSION false). Bytes after the end of the zlib
 *   stream are ignored, as zlib's inflate does; they are outside the signed COSE_Sign1.
 * - `alg` and `kid` are read from the protected header, each falling back to the unprotected one;
 *   the protected value wins when both are there (vectors common/CO18–CO23). A kid of another
 *   length than 8 bytes is looked up like any other and simply finds no key.
 * - A CWT tag 61 around the (tagged or untagged) COSE_Sign1 is accepted (vector common/CO28).
 * - `iat`/`exp` may be floating-point NumericDates (RFC 8392 §2; several ES vectors); they are
 *   floored to whole seconds.
 * - The hcert payload may carry CBOR tags 0, 1, 100 and 1004 (date/time forms, e.g. a tagged `sc`
 *   in vectors SE/2 and SE/4); they are read through. Any other tag is BAD_ENCODING.
 * - DSC extended key usage: only the DCC OIDs count. When the DSC lists none of them (no EKU at
 *   all, or only e.g. clientAuth), it may sign every certificate type; when it lists any, it must
 *   list the one for this certificate's type, else KEY_NOT_VALID. Both the HCERT OIDs
 *   1.3.6.1.4.1.1847.2021.1.{1,2,3} and the variant 1.3.6.1.4.1.0.1847.2021.1.{1,2,3} that many
 *   early DSCs (and the EU test DSCs, vectors common/CO6–CO14) carry are recognised, as
 *   corona-warn-app/cwa-app-android (DscSignatureValidator.kt, checkOidsIntersect) and
 *   Digitaler-Impfnachweis/covpass-ios (HCert.swift, extendedKeyUsage*Issuer) do.
 * - `iss` (claim 1) is optional and informational (§3): deployed DCCs carry a country code or free
 *   text (a ministry's full name) there, so it is not compared with the issuer that owns the DSC,
 *   which is the credential's issuer. When present it must be a text string. The DSC's own validity
 *   dates are not checked (§3).
 * - A certificate group that is `null` (older payloads write `"t": null`) counts as absent (§3): a
 *   DCC holds exactly one of `v`, `t`, `r` that is present and not null.
 */
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import type { Alg } from './types.js';
import type { Trust, TrustedKey } from './trust.js';
import { findSigner, type Credential, type VerifyOutcome } from './credential.js';
import { base45Decode } from './base45.js';
import { CoseFormatError, decodeCbor, decodeCoseSign1, type CborLimits, type CoseSign1 } from './cose.js';
import { displayName } from '../../base/display.js';

export const HC1_PREFIX = 'HC1:';
/**
 * Limits, all applied before any crypto. A DCC is typically 400–700 characters of QR text, a
 * 300–600 byte COSE_Sign1 and a 200–400 byte payload; the largest deployed ones (PS256 with a
 * 3072-bit key, long names) stay under 2 KiB of COSE. The limits leave wide headroom while
 * bounding what a hostile code can make the gate allocate:
 * - text: 8192 characters (the QR maximum is 4296 alphanumeric characters);
 * - inflated COSE_Sign1: 16 KiB (`inflateSync` with `maxOutputLength`; a deflate bomb stops there);
 * - CBOR: maps and arrays of at most 64 entries, strings of at most 8 KiB (HP1: 32 and 256 bytes),
 *   nesting at most 16 deep.
 */
export const HC1_MAX_CHARS = 8192;
export const HC1_MAX_INFLATED_BYTES = 16 * 1024;
export const HC1_LIMITS: CborLimits = { maxMapEntries: 64, maxStringBytes: 8192 };
const MAX_KID_BYTES = 64;

const COSE_ALGS = new Map<number, Alg>([
  [-7, 'ES256'],
  [-37, 'PS256'],
]);
const HCERT_CLAIM = -260;
/** Tags read through in the payload: 0 date/time string, 1 epoch time, 100 and 1004 dates (RFC 8943). */
const PAYLOAD_TAGS = [0, 1, 100, 1004];

export type DccType = 'v' | 't' | 'r';
const TYPE_NAMES: Record<DccType, string> = { v: 'vaccination', t: 'test', r: 'recovery' };
/** DCC extended-key-usage OIDs by certificate type (HCERT Appendix A.4), with the `.0.` variant. */
const EKU_BY_TYPE: Record<DccType, readonly string[]> = {
  t: ['1.3.6.1.4.1.1847.2021.1.1', '1.3.6.1.4.1.0.1847.2021.1.1'],
  v: ['1.3.6.1.4.1.1847.2021.1.2', '1.3.6.1.4.1.0.1847.2021.1.2'],
  r: ['1.3.6.1.4.1.1847.2021.1.3', '1.3.6.1.4.1.0.1847.2021.1.3'],
};
const DCC_EKUS = new Set(Object.values(EKU_BY_TYPE).flat());

/** Where decoding stopped: the stage a BAD_ENCODING came from (tests map it to the EU vectors' steps). */
export type Hc1Stage = 'prefix' | 'length' | 'base45' | 'inflate' | 'cose';

export interface Hc1Decoded {
  cose: CoseSign1;
  /** COSE alg, protected header first, else unprotected. */
  algId: number;
  /** kid bytes, protected header first, else unprotected. */
  kid: Uint8Array;
  /** The payload, decoded (a map, within the limits) but not yet interpreted. */
  payload: Map<unknown, unknown>;
}

export type Hc1DecodeResult = { ok: true; value: Hc1Decoded } | { ok: false; stage: Hc1Stage; detail: string };

/** Everything up to (not including) key lookup and signature verification. Never throws on input. */
export function decodeHc1(text: string): Hc1DecodeResult {
  const fail = (stage: Hc1Stage, detail: string) => ({ ok: false, stage, detail }) as const;
  if (!text.startsWith(HC1_PREFIX)) return fail('prefix', 'no HC1: prefix');
  if (text.length > HC1_MAX_CHARS) return fail('length', `code longer than ${HC1_MAX_CHARS} characters`);
  const compressed = base45Decode(text.slice(HC1_PREFIX.length));
  if (!compressed) return fail('base45', 'not Base45');

  let bytes: Buffer;
  try {
    bytes = inflateSync(compressed, { maxOutputLength: HC1_MAX_INFLATED_BYTES });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return fail('inflate', code === 'ERR_BUFFER_TOO_LARGE' ? `inflates to more than ${HC1_MAX_INFLATED_BYTES} bytes` : 'not zlib data');
  }

  let cose: CoseSign1;
  try {
    cose = decodeCoseSign1(bytes, HC1_LIMITS, true);
  } catch (e) {
    if (e instanceof CoseFormatError) return fail('cose', e.message);
    throw e;
  }
  const algId = headerValue(cose, 1);
  const kid = headerValue(cose, 4);
  if (algId === undefined) return fail('cose', 'no alg in either header');
  if (typeof algId !== 'number' || !Number.isSafeInteger(algId)) return fail('cose', 'alg is not an integer');
  if (kid === undefined) return fail('cose', 'no kid in either header');
  if (!(kid instanceof Uint8Array) || kid.length === 0 || kid.length > MAX_KID_BYTES) return fail('cose', 'kid is not a 1–64 byte bstr');

  const payload = decodePayload(cose.payload);
  if (typeof payload === 'string') return fail('cose', payload);
  return { ok: true, value: { cose, algId, kid, payload } };
}

export function verifyHc1(text: string, trust: Trust | null): VerifyOutcome {
  const fail = (reason: 'BAD_ENCODING' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE', detail: string, kid: string | null = null) =>
    ({ ok: false, reason, detail, kid }) as const;

  const decoded = decodeHc1(text);
  if (!decoded.ok) return fail('BAD_ENCODING', decoded.detail);
  const { cose, algId, payload } = decoded.value;
  const kid = Buffer.from(decoded.value.kid).toString('hex');

  const key = findSigner(trust, 'HC1', kid, COSE_ALGS.get(algId), cose, algId);
  if ('reason' in key) return key;

  const claims = readClaims(payload);
  if (typeof claims === 'string') return fail('BAD_ENCODING', claims, kid);
  return { ok: true, credential: credentialOf(claims, key) };
}

export interface Hc1Claims {
  iss: string | null;
  iat: number;
  exp: number;
  type: DccType;
  /** Unique certificate identifier (`ci` of the entry). */
  uci: string;
  displayName: string | null;
}

/** Returns the claims, or what is wrong with them. */
export function readClaims(payload: Map<unknown, unknown>): Hc1Claims | string {
  const iss = payload.get(1);
  const iat = payload.get(6);
  const exp = payload.get(4);
  const hcert = payload.get(HCERT_CLAIM);
  if (iss !== undefined && typeof iss !== 'string') return 'iss must be a text string';
  if (!isNumericDate(iat) || !isNumericDate(exp)) return 'iat and exp must be NumericDates';
  if (!(hcert instanceof Map)) return 'hcert claim (-260) missing';
  const dcc = hcert.get(1);
  if (!(dcc instanceof Map)) return 'hcert has no EU DCC (key 1)';
  const types = (['v', 't', 'r'] as const).filter((t) => dcc.get(t) != null);
  if (types.length !== 1) return 'the DCC must hold exactly one of v, t, r (not null)';
  const type = types[0]!;
  const entries = dcc.get(type);
  if (!Array.isArray(entries) || entries.length === 0) return `${type} must be a non-empty array`;
  const entry: unknown = entries[0];
  if (!(entry instanceof Map)) return `${type}[0] must be a map`;
  const uci = entry.get('ci');
  if (typeof uci !== 'string' || uci.length === 0) return `${type}[0].ci must be a non-empty string`;
  const nam = dcc.get('nam');
  if (nam !== undefined && !(nam instanceof Map)) return 'nam must be a map';
  return {
    iss: iss ?? null,
    iat: Math.floor(iat),
    exp: Math.floor(exp),
    type,
    uci,
    displayName: nam ? maskedName(nam) : null,
  };
}

function credentialOf(c: Hc1Claims, key: TrustedKey): Credential {
  const issuer = key.issuer!;
  return {
    format: 'HC1',
    kid: key.kid,
    issuer,
    keyProblem: keyUsageProblem(key.extKeyUsage, c.type),
    issuerMismatch: false, // iss is informational for HC1 (§3)
    iat: c.iat,
    exp: c.exp,
    expInclusive: true,
    handle: dccHandle(c.iss ?? issuer, c.uci),
    status: null,
    statusAt: null,
    paper: false,
    displayName: c.displayName,
  };
}

/** null when the DSC may sign this type; else why not (→ KEY_NOT_VALID). See the module comment. */
export function keyUsageProblem(extKeyUsage: readonly string[], type: DccType): string | null {
  const dccUsages = extKeyUsage.filter((oid) => DCC_EKUS.has(oid));
  if (dccUsages.length === 0) return null;
  if (dccUsages.some((oid) => EKU_BY_TYPE[type].includes(oid))) return null;
  return `DSC extended key usage does not cover ${TYPE_NAMES[type]} certificates`;
}

/**
 * The DCC handle: `hex(H16(UTF-8(country) ‖ UTF-8(UCI)))`, the EU revocation scheme's
 * COUNTRYCODEUCI hash, so that revocation entries of that type can go into the `tokens` list as
 * they are. Input as eu-digital-green-certificates/dgc-gateway defines it (RevocationHashTypeDto:
 * "The CountryCode encoded as a UTF-8 string concatenated with the UCI encoded with a UTF-8
 * string"; first 16 bytes of SHA-256): no separator, no case change, the UCI exactly as in `ci`
 * (with any `URN:UVCI:` prefix). The country code is the CWT issuer `iss`, as
 * corona-warn-app/cwa-app-android computes it (RevocationCalculation.kt:
 * `header.issuer.plus(uniqueCertificateIdentifier)`, checked against the expected hashes of its
 * RevocationCalculationSampleData.json); when `iss` is absent, the issuer id of the key, which for
 * a DCC issuer is the same country code. (The EU reference verifier dgca-verifier-app-android uses
 * the entry's `co` upper-cased instead; the two agree whenever the issuing country is also the
 * country of vaccination/test.)
 */
export function dccHandle(country: string, uci: string): string {
  return createHash('sha256').update(country, 'utf8').update(uci, 'utf8').digest().subarray(0, 16).toString('hex');
}

/** §2's display rule over the family name (else the given name), in either of the DCC's spellings. */
function maskedName(nam: Map<unknown, unknown>): string | null {
  for (const k of ['fn', 'fnt', 'gn', 'gnt']) {
    const v = nam.get(k);
    const shown = typeof v === 'string' ? displayName(v.normalize('NFC').trim().replace(/^<+/, '')) : null;
    if (shown) return shown;
  }
  return null;
}

function headerValue(cose: CoseSign1, label: number): unknown {
  return cose.protectedHeader.has(label) ? cose.protectedHeader.get(label) : cose.unprotectedHeader.get(label);
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}

/** The CWT payload: strict CBOR within the HC1 limits, the tags above; a map or what is wrong. */
function decodePayload(bytes: Uint8Array): Map<unknown, unknown> | string {
  try {
    const value = decodeCbor(bytes, HC1_LIMITS, PAYLOAD_TAGS);
    return value instanceof Map ? value : 'payload is not a map';
  } catch (e) {
    if (e instanceof CoseFormatError) return `payload ${e.message}`;
    throw e;
  }
}
