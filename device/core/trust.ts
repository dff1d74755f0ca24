/**
 * The trust bundle (§4): validated, then compiled once into what the decision path needs —
 * verify functions by kid, issuers, envelope signers and the holder key.
 */
import { X509Certificate } from 'node:crypto';
import type { Alg, Format } from './types.js';
import { compileSchema } from './schema.js';
import { b64uDecode } from './b64u.js';
import { kidOf, pendingTableBuilds, spkiAlg, verifierFor, type KeyVerifier, type VerifyFn } from './crypto/keys.js';

/** §1: at most this many keys share one kid within one format (or one signer role). */
export const MAX_KEYS_PER_KID = 4;

export interface KeyEntry {
  kid: string;
  alg?: Alg;
  spki?: string;
  x5c?: string;
  notBefore?: number;
  notAfter?: number;
}

export interface TrustBundle {
  version: number;
  issuedAt: number;
  expiresAt: number;
  issuers: { id: string; name: string; formats: Format[]; keys: KeyEntry[] }[];
  signers: { policy: KeyEntry[]; lists: KeyEntry[]; commands: KeyEntry[] };
  holderKey: string;
}

export interface TrustedKey {
  kid: string;
  alg: Alg;
  /** Issuer id; null for envelope signers and roots. */
  issuer: string | null;
  formats: readonly Format[];
  notBefore: number | null;
  notAfter: number | null;
  /** Extended-key-usage OIDs of an HC1 key's certificate; empty when it lists none. */
  extKeyUsage: readonly string[];
  verify: VerifyFn;
}

export type SignerRole = 'policy' | 'lists' | 'commands';

export interface Trust {
  version: number;
  issuedAt: number;
  expiresAt: number;
  keysByKid: ReadonlyMap<string, readonly TrustedKey[]>;
  issuerIds: ReadonlySet<string>;
  signers: Readonly<Record<SignerRole, readonly TrustedKey[]>>;
  holderKey: Buffer;
  /** Keys left out of the bundle as applied, with why (§1: reported in status and logged). */
  skipped: readonly SkippedKey[];
  /** Verify functions by key material, for the next bundle to reuse (SM2 tables are costly to build). */
  verifiers: ReadonlyMap<string, KeyVerifier>;
  /**
   * The SM2 table builds still to do, one table per step: compiling builds none (16 keys would block
   * start-up for most of a second). A long-running verifier runs them one per event-loop turn; a
   * one-shot command never does. Until its table is built a key verifies the slower textbook way.
   */
  pendingTables(): (() => void)[];
}

/** A key of the bundle that the gate does not use. */
export interface SkippedKey {
  /** The issuer id, or `signers.<role>`. */
  owner: string;
  kid: string;
  reason: string;
}

/** One line for a log or a terminal: `CN-110000/0123456789abcdef: Ed25519 key is a small-order point`. */
export function describeSkipped(k: SkippedKey): string {
  return `${k.owner}/${k.kid}: ${k.reason}`;
}

const kid = { type: 'string', pattern: '^[0-9a-f]{16}$' };
const time = { type: 'integer', minimum: 0 };
const b64u = { type: 'string', pattern: '^[A-Za-z0-9_-]+$', maxLength: 16384 };
const keySchema = {
  type: 'object',
  required: ['kid'],
  properties: {
    kid,
    alg: { enum: ['ES256', 'EdDSA', 'SM2SM3', 'PS256'] },
    spki: b64u,
    x5c: b64u,
    notBefore: time,
    notAfter: time,
  },
};
const signerList = { type: 'array', items: { ...keySchema, required: ['kid', 'alg', 'spki'] }, maxItems: 64 };

const validateBundle = compileSchema<TrustBundle>('trust bundle', {
  type: 'object',
  required: ['version', 'issuedAt', 'expiresAt', 'issuers', 'signers', 'holderKey'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    issuedAt: time,
    expiresAt: time,
    issuers: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        required: ['id', 'formats', 'keys'],
        properties: {
          // §4: bundle issuer ids are 1–128 characters (DCC issuers may be named in full); HP1 `iss` stays 1–32.
          id: { type: 'string', minLength: 1, maxLength: 128 },
          name: { type: 'string', maxLength: 256 },
          formats: { type: 'array', items: { type: 'string', maxLength: 16 } },
          keys: { type: 'array', items: keySchema, maxItems: 1000 },
        },
      },
    },
    signers: {
      type: 'object',
      required: ['policy', 'lists', 'commands'],
      properties: { policy: signerList, lists: signerList, commands: signerList },
    },
    holderKey: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
  },
});

export function parseTrustBundle(payload: unknown): TrustBundle {
  return validateBundle(payload);
}

/**
 * `previous`: the bundle compiled before, whose verify functions are reused for the same keys, so
 * that a new bundle version does not rebuild the tables of the SM2 keys it keeps.
 */
export function compileTrust(bundle: TrustBundle, previous: Trust | null = null): Trust {
  const keysByKid = new Map<string, TrustedKey[]>();
  const skipped: SkippedKey[] = [];
  const verifiers = new Map<string, KeyVerifier>();
  const verifierOf = (material: string, make: () => KeyVerifier): VerifyFn => {
    let kv = verifiers.get(material) ?? previous?.verifiers.get(material);
    kv ??= make();
    verifiers.set(material, kv);
    return kv.verify;
  };
  // Keys named so far per kid and format (or signer role), usable or not: the cap comes before the
  // work of loading a key, so a bundle naming one kid thousands of times costs nothing either.
  const named = new Map<string, number>();
  const overCap = (kid: string, scopes: readonly string[]): string | null => {
    const full = scopes.find((s) => (named.get(`${s}:${kid}`) ?? 0) >= MAX_KEYS_PER_KID);
    for (const s of scopes) named.set(`${s}:${kid}`, (named.get(`${s}:${kid}`) ?? 0) + 1);
    return full ? `more than ${MAX_KEYS_PER_KID} keys with this kid for ${full}` : null;
  };
  const load = (entry: KeyEntry, owner: string, issuer: string | null, formats: readonly Format[], scopes: readonly string[]): TrustedKey | null => {
    const refused = overCap(entry.kid, scopes);
    if (refused) {
      skipped.push({ owner, kid: entry.kid, reason: refused });
      return null;
    }
    try {
      return loadKey(entry, issuer, formats, verifierOf);
    } catch (e) {
      skipped.push({ owner, kid: entry.kid, reason: (e as Error).message });
      return null;
    }
  };
  for (const issuer of bundle.issuers) {
    const formats = issuer.formats.filter((f): f is Format => f === 'HP1' || f === 'HC1');
    for (const entry of issuer.keys) {
      const k = load(entry, issuer.id, issuer.id, formats, formats);
      if (!k) continue;
      const list = keysByKid.get(k.kid);
      if (list) list.push(k);
      else keysByKid.set(k.kid, [k]);
    }
  }
  const signers = { policy: [], lists: [], commands: [] } as Record<SignerRole, TrustedKey[]>;
  for (const role of ['policy', 'lists', 'commands'] as const) {
    for (const entry of bundle.signers[role]) {
      const k = load(entry, `signers.${role}`, null, [], [`signers.${role}`]);
      if (k) signers[role].push(k);
    }
  }
  return {
    version: bundle.version,
    issuedAt: bundle.issuedAt,
    expiresAt: bundle.expiresAt,
    keysByKid,
    issuerIds: new Set(bundle.issuers.map((i) => i.id)),
    signers,
    holderKey: b64uDecode(bundle.holderKey)!,
    skipped,
    verifiers,
    pendingTables: () => pendingTableBuilds(verifiers.values()),
  };
}

/** Throws, saying why, when the entry does not hold a key the gate may use (§1). */
function loadKey(
  entry: KeyEntry,
  issuer: string | null,
  formats: readonly Format[],
  verifierOf: (material: string, make: () => KeyVerifier) => VerifyFn,
): TrustedKey {
  const base = {
    issuer,
    formats,
    notBefore: entry.notBefore ?? null,
    notAfter: entry.notAfter ?? null,
  };
  if (entry.x5c !== undefined) {
    const der = b64uDecode(entry.x5c);
    if (!der) throw new Error('x5c is not base64url');
    if (kidOf(der) !== entry.kid) throw new Error('kid does not match the certificate');
    let cert: X509Certificate;
    let spki: Buffer;
    try {
      cert = new X509Certificate(der);
      // Exporting fails for a point at infinity, which Node would otherwise take as a key.
      spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    } catch {
      throw new Error('x5c is not a certificate with a usable public key');
    }
    const type = cert.publicKey.asymmetricKeyType;
    const alg: Alg = type === 'ec' ? 'ES256' : 'PS256';
    if (entry.alg !== undefined && entry.alg !== alg) throw new Error(`certificate key does not fit ${entry.alg}`);
    return { ...base, kid: entry.kid, alg, extKeyUsage: cert.keyUsage ?? [], verify: verifierOf(`${alg}:${entry.x5c}`, () => verifierFor(alg, spki)) };
  }
  if (entry.spki === undefined || entry.alg === undefined) throw new Error('key needs alg and spki, or x5c');
  const spki = b64uDecode(entry.spki);
  if (!spki) throw new Error('spki is not base64url');
  if (kidOf(spki) !== entry.kid) throw new Error('kid does not match the key');
  const alg = entry.alg;
  return { ...base, kid: entry.kid, alg, extKeyUsage: [], verify: verifierOf(`${alg}:${entry.spki}`, () => verifierFor(alg, spki)) };
}

/** A pinned federation root: the algorithm follows from the key itself. */
export function rootKey(spki: Uint8Array): TrustedKey {
  const alg = algOfSpki(spki);
  return {
    kid: kidOf(spki),
    alg,
    issuer: null,
    formats: [],
    notBefore: null,
    notAfter: null,
    extKeyUsage: [],
    verify: verifierFor(alg, spki).verify, // a root checks a few envelopes: no table
  };
}

export function algOfSpki(spki: Uint8Array): Alg {
  const alg = spkiAlg(spki);
  if (alg === null || alg === 'PS256') throw new Error('unsupported root key type (ES256, EdDSA or SM2SM3)');
  return alg;
}
