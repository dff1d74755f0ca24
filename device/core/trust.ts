/**
 * The trust bundle (§4): validated, then compiled once into what the decision path needs —
 * verify functions by kid, issuers, envelope signers and the holder key.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { Alg, Format } from './types.js';
import { compileSchema } from './schema.js';
import { b64uDecode } from './b64u.js';
import { kidOf, nodeVerifier, verifierFor, type VerifyFn } from './crypto/keys.js';
import { sm2PublicKeyFromSpki } from './crypto/sm2.js';

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
  /** Keys left out because they could not be used, with why (logged and reported on import). */
  skipped: readonly string[];
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
          id: { type: 'string', minLength: 1, maxLength: 32 },
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

export function compileTrust(bundle: TrustBundle): Trust {
  const keysByKid = new Map<string, TrustedKey[]>();
  const skipped: string[] = [];
  const add = (k: TrustedKey) => {
    const list = keysByKid.get(k.kid);
    if (list) list.push(k);
    else keysByKid.set(k.kid, [k]);
  };
  for (const issuer of bundle.issuers) {
    const formats = issuer.formats.filter((f): f is Format => f === 'HP1' || f === 'HC1');
    for (const entry of issuer.keys) {
      try {
        add(loadKey(entry, issuer.id, formats));
      } catch (e) {
        skipped.push(`${issuer.id}/${entry.kid}: ${(e as Error).message}`);
      }
    }
  }
  const signers = { policy: [], lists: [], commands: [] } as Record<SignerRole, TrustedKey[]>;
  for (const role of ['policy', 'lists', 'commands'] as const) {
    for (const entry of bundle.signers[role]) {
      try {
        signers[role].push(loadKey(entry, null, []));
      } catch (e) {
        skipped.push(`signers.${role}/${entry.kid}: ${(e as Error).message}`);
      }
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
  };
}

function loadKey(entry: KeyEntry, issuer: string | null, formats: readonly Format[]): TrustedKey {
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
    const cert = new X509Certificate(der);
    const key = cert.publicKey;
    const alg: Alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'PS256';
    if (entry.alg !== undefined && entry.alg !== alg) throw new Error(`certificate key does not fit ${entry.alg}`);
    return { ...base, kid: entry.kid, alg, extKeyUsage: cert.keyUsage ?? [], verify: nodeVerifier(alg, key) };
  }
  if (entry.spki === undefined || entry.alg === undefined) throw new Error('key needs alg and spki, or x5c');
  const spki = b64uDecode(entry.spki);
  if (!spki) throw new Error('spki is not base64url');
  if (kidOf(spki) !== entry.kid) throw new Error('kid does not match the key');
  return { ...base, kid: entry.kid, alg: entry.alg, extKeyUsage: [], verify: verifierFor(entry.alg, spki) };
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
    verify: verifierFor(alg, spki),
  };
}

export function algOfSpki(spki: Uint8Array): Alg {
  try {
    sm2PublicKeyFromSpki(spki);
    return 'SM2SM3';
  } catch {
    // not SM2: ask Node
  }
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`unsupported root key type ${key.asymmetricKeyType ?? 'unknown'}`);
}
