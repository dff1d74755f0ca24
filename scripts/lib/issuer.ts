/**
 * The reference issuer: keys, HP1 codes, signed envelopes, trust bundles and lists — what the demo,
 * the tests, the benchmarks and an integrator trying a gate use. Gate code never imports this.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { encode as cborEncode, Tagged } from 'cborg';
import { base45Encode } from '../../device/core/base45.js';
import { b64uDecode, b64uEncode } from '../../device/core/b64u.js';
import { sigStructure } from '../../device/core/cose.js';
import { HP1_PREFIX, tokenHandle } from '../../device/core/hp1.js';
import { holderHandle } from '../../device/core/idcard.js';
import { kidOf } from '../../device/core/crypto/keys.js';
import { sm2GenerateKeyPair, sm2Sign } from '../../device/core/crypto/sm2.js';
import type { EnvelopeType } from '../../device/core/envelope.js';
import type { KeyEntry, TrustBundle } from '../../device/core/trust.js';
import type { WireEntry } from '../../device/core/lists.js';
import type { Format, Status } from '../../device/core/types.js';

export type SigningAlg = 'ES256' | 'EdDSA' | 'SM2SM3';

export interface SigningKey {
  alg: SigningAlg;
  kid: string;
  spki: Buffer;
  sign(data: Uint8Array): Uint8Array;
}

/** On-disk form: `d` is PKCS#8 DER for Node's keys, the raw 32-byte scalar for SM2. */
export interface KeyFile {
  alg: SigningAlg;
  kid: string;
  spki: string;
  d: string;
}

const COSE_ALG: Record<SigningAlg, number> = { ES256: -7, EdDSA: -8, SM2SM3: -65537 };

export function generateKey(alg: SigningAlg): { key: SigningKey; file: KeyFile } {
  if (alg === 'SM2SM3') {
    const pair = sm2GenerateKeyPair();
    const file = { alg, kid: kidOf(pair.spki), spki: b64uEncode(pair.spki), d: b64uEncode(pair.privateKey) };
    return { key: loadKey(file), file };
  }
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
  const d = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const file = { alg, kid: kidOf(spki), spki: b64uEncode(spki), d: b64uEncode(d) };
  return { key: loadKey(file), file };
}

export function loadKey(file: KeyFile): SigningKey {
  const spki = b64uDecode(file.spki)!;
  const d = b64uDecode(file.d)!;
  const base = { alg: file.alg, kid: file.kid, spki };
  if (file.alg === 'SM2SM3') return { ...base, sign: (data) => sm2Sign(d, data) };
  const priv: KeyObject = createPrivateKey({ key: d, format: 'der', type: 'pkcs8' });
  if (file.alg === 'ES256') return { ...base, sign: (data) => nodeSign('sha256', data, { key: priv, dsaEncoding: 'ieee-p1363' }) };
  return { ...base, sign: (data) => nodeSign(null, data, priv) };
}

/** The trust-bundle form of a public key. */
export function keyEntry(key: SigningKey, validity: { notBefore?: number; notAfter?: number } = {}): KeyEntry {
  return { kid: key.kid, alg: key.alg, spki: b64uEncode(key.spki), ...validity };
}

/** A §4 envelope, as the JSON text a gate receives. */
export function signEnvelope(key: SigningKey, typ: EnvelopeType, payload: unknown): string {
  const prot = b64uEncode(Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })));
  const body = b64uEncode(Buffer.from(JSON.stringify(payload)));
  const signature = b64uEncode(key.sign(Buffer.from(`${prot}.${body}`, 'ascii')));
  return JSON.stringify({ protected: prot, payload: body, signature });
}

export interface Hp1Claims {
  iss: string;
  iat: number;
  exp: number;
  /** 8–16 random bytes when left out. */
  cti?: Uint8Array;
  status: Status;
  /** When the status was determined; `iat` when left out. */
  sat?: number;
  kind: 'dynamic' | 'paper';
  /** The holder's ID number, bound by a salted hash (never carried in clear). */
  holderId?: string;
  maskedName?: string;
}

/** An HP1 code (§2) as the QR text. */
export function issueHp1(key: SigningKey, c: Hp1Claims): { text: string; handle: string } {
  const cti = c.cti ?? randomBytes(12);
  const hp = new Map<number, unknown>([
    [1, c.status],
    [2, c.sat ?? c.iat],
    [3, c.kind === 'dynamic' ? 1 : 2],
  ]);
  if (c.holderId !== undefined) {
    const hs = randomBytes(16);
    hp.set(4, createHash('sha256').update(hs).update(c.holderId, 'utf8').digest().subarray(0, 16));
    hp.set(5, hs);
  }
  if (c.maskedName !== undefined) hp.set(6, c.maskedName);
  const claims = new Map<number, unknown>([
    [1, c.iss],
    [6, c.iat],
    [4, c.exp],
    [7, cti],
    [-70000, hp],
  ]);
  const protectedBytes = cborEncode(new Map<number, unknown>([[1, COSE_ALG[key.alg]], [4, Buffer.from(key.kid, 'hex')]]));
  const payload = cborEncode(claims);
  const signature = key.sign(sigStructure(protectedBytes, payload));
  const cose = cborEncode(new Tagged(18, [protectedBytes, new Map(), payload, signature]));
  return { text: `${HP1_PREFIX}${base45Encode(cose)}`, handle: tokenHandle(c.iss, cti) };
}

/** The holders-list key of an ID number under a trust bundle's `holderKey` (base64url). */
export function holderHandleOf(holderKey: string, idNumber: string): string {
  return holderHandle(b64uDecode(holderKey)!, idNumber.trim().toUpperCase());
}

export interface IssuerSpec {
  id: string;
  name: string;
  formats?: Format[];
  keys: KeyEntry[];
}

export function trustBundle(o: {
  version: number;
  issuedAt: number;
  expiresAt: number;
  issuers: IssuerSpec[];
  signers: { policy: SigningKey[]; lists: SigningKey[]; commands: SigningKey[] };
  holderKey: string;
}): TrustBundle {
  return {
    version: o.version,
    issuedAt: o.issuedAt,
    expiresAt: o.expiresAt,
    issuers: o.issuers.map((i) => ({ id: i.id, name: i.name, formats: i.formats ?? ['HP1'], keys: i.keys })),
    signers: {
      policy: o.signers.policy.map((k) => keyEntry(k)),
      lists: o.signers.lists.map((k) => keyEntry(k)),
      commands: o.signers.commands.map((k) => keyEntry(k)),
    },
    holderKey: o.holderKey,
  };
}

/** Splits entries into signed snapshot chunks (§5). */
export function snapshotChunks(key: SigningKey, list: string, snapshot: number, entries: WireEntry[], chunkSize: number): string[] {
  const chunks = Math.max(1, Math.ceil(entries.length / chunkSize));
  const out: string[] = [];
  for (let i = 0; i < chunks; i++) {
    const put = entries.slice(i * chunkSize, (i + 1) * chunkSize);
    out.push(signEnvelope(key, 'passgate-list+json', { list, snapshot, chunk: i, chunks, count: entries.length, put }));
  }
  return out;
}

export function newHolderKey(): string {
  return b64uEncode(randomBytes(32));
}

