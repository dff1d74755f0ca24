/**
 * Public keys as the trust bundle carries them (§1, §4), checked and turned once into verify
 * functions that the hot path calls. Node's crypto for ES256, EdDSA and PS256; our own SM2 (Node's
 * is not GB/T 32918.2).
 *
 * Keys are never trusted as given (§1). Node accepts keys a verifier must refuse: an Ed25519 key of
 * small order verifies the signature R = identity, S = 0 over any message, and a P-256 key that is
 * the point at infinity aborts the whole process when Node is asked for its details. So each
 * SubjectPublicKeyInfo is read here first, its point checked with @noble/curves, and only then
 * handed to Node.
 */
import { createHash, createPublicKey, verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import type { Alg } from '../types.js';
import { sm2BaseTableBuilt, sm2HasTable, sm2Precompute, sm2PrecomputeBase, sm2PublicKeyFromSpki, sm2Verify, sm2Warm, type Sm2PublicKey } from './sm2.js';

export type VerifyFn = (data: Uint8Array, signature: Uint8Array) => boolean;

/** A key's verify function, and for SM2 the key whose table would make it faster. */
export interface KeyVerifier {
  verify: VerifyFn;
  sm2: Sm2PublicKey | null;
}

/**
 * The SM2 table builds these keys still wait for, one table per step (G's first): the caller
 * schedules them, so that compiling trust stays cheap and no verification builds a table.
 */
export function pendingTableBuilds(verifiers: Iterable<KeyVerifier>): (() => void)[] {
  const steps: (() => void)[] = [];
  for (const { sm2 } of verifiers) if (sm2 && !sm2HasTable(sm2)) steps.push(() => sm2Precompute(sm2));
  if (steps.length > 0 && !sm2BaseTableBuilt()) steps.unshift(sm2PrecomputeBase);
  return steps;
}

/** `kid` of a key or certificate: hex of the first 8 bytes of SHA-256 over its DER (§ notation). */
export function kidOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest().subarray(0, 8).toString('hex');
}

/** A key that may not be used, with why (§1): left out of the bundle and reported. */
export class KeyRefused extends Error {}

/**
 * Throws KeyRefused when the SPKI does not hold a usable key of the kind `alg` names: a key serves
 * one algorithm only. An SM2 key comes without its table (`pendingTableBuilds`: tens of
 * milliseconds each, for the caller to schedule); the SM2 arithmetic is warmed here, once per
 * process, so that a decision before its key's table is built stays a few milliseconds.
 */
export function verifierFor(alg: Alg, spki: Uint8Array): KeyVerifier {
  if (alg === 'SM2SM3') {
    let key: Sm2PublicKey;
    try {
      key = sm2PublicKeyFromSpki(spki);
    } catch (e) {
      throw new KeyRefused((e as Error).message);
    }
    sm2Warm();
    return { verify: (data, sig) => sig.length === 64 && sm2Verify(key, data, sig), sm2: key };
  }
  checkSpki(alg, spki);
  return { verify: nodeVerifier(alg, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })), sm2: null };
}

function nodeVerifier(alg: Exclude<Alg, 'SM2SM3'>, key: KeyObject): VerifyFn {
  switch (alg) {
    case 'ES256':
      return guarded((data, sig) =>
        sig.length === 64 && nodeVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
      );
    case 'EdDSA':
      return guarded((data, sig) => sig.length === 64 && nodeVerify(null, data, key, sig));
    case 'PS256': {
      const type = key.asymmetricKeyType;
      if ((type !== 'rsa' && type !== 'rsa-pss') || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
        throw new KeyRefused('PS256 needs an RSA key of 2048 bits or more');
      }
      return guarded((data, sig) =>
        nodeVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
      );
    }
  }
}

/** DER-encoded OIDs (tag and length included) of the algorithms and curves a key may name. */
const OID = {
  ecPublicKey: '06072a8648ce3d0201',
  p256: '06082a8648ce3d030107',
  sm2: '06082a811ccf5501822d',
  ed25519: '06032b6570',
  rsaEncryption: '06092a864886f70d010101',
  rsaPss: '06092a864886f70d01010a',
};

/** The algorithm an SPKI's key is for, as far as its OIDs say (nothing is checked here); null if none. */
export function spkiAlg(spki: Uint8Array): Alg | null {
  const parsed = readSpki(spki);
  if (!parsed) return null;
  if (parsed.algorithm === OID.ed25519) return 'EdDSA';
  if (parsed.algorithm === OID.rsaEncryption || parsed.algorithm === OID.rsaPss) return 'PS256';
  if (parsed.algorithm !== OID.ecPublicKey) return null;
  if (parsed.parameters === OID.p256) return 'ES256';
  if (parsed.parameters === OID.sm2) return 'SM2SM3';
  return null;
}

/** The key of `alg` in this SPKI is one a verifier may use, else KeyRefused saying why. */
function checkSpki(alg: Exclude<Alg, 'SM2SM3'>, spki: Uint8Array): void {
  const parsed = readSpki(spki);
  if (!parsed) throw new KeyRefused('not a DER SubjectPublicKeyInfo');
  const { algorithm, parameters, key } = parsed;
  switch (alg) {
    case 'ES256': {
      if (algorithm !== OID.ecPublicKey || parameters !== OID.p256) throw new KeyRefused('ES256 needs a P-256 key');
      try {
        p256.Point.fromBytes(key).assertValidity(); // on the curve, not infinity; 02/03/04 forms
      } catch {
        throw new KeyRefused('P-256 key is not a point on the curve (or is the point at infinity)');
      }
      return;
    }
    case 'EdDSA': {
      if (algorithm !== OID.ed25519 || parameters !== null || key.length !== 32) throw new KeyRefused('EdDSA needs an Ed25519 key');
      const problem = ed25519Problem(key);
      if (problem) throw new KeyRefused(problem);
      return;
    }
    case 'PS256':
      if (algorithm !== OID.rsaEncryption && algorithm !== OID.rsaPss) throw new KeyRefused('PS256 needs an RSA key of 2048 bits or more');
      return; // the size is Node's to read (nodeVerifier)
  }
}

/**
 * What is wrong with a 32-byte Ed25519 public key, or null. RFC 8032 §5.1.3: y < p and no x = 0 with
 * the sign bit set (noble's strict decoding), so the encoding is canonical; then not one of the eight
 * small-order points. A point with a small-order component beside its prime-order part is refused
 * too: every key an Ed25519 key generator makes lies in the prime-order subgroup.
 */
export function ed25519Problem(key: Uint8Array): string | null {
  let point;
  try {
    point = ed25519.Point.fromBytes(key, false);
  } catch {
    return 'Ed25519 key is not a canonical encoding of a curve point';
  }
  if (!Buffer.from(point.toBytes()).equals(Buffer.from(key))) return 'Ed25519 key is not a canonical encoding';
  if (point.isSmallOrder()) return 'Ed25519 key is a small-order point (it would verify forged signatures)';
  if (!point.isTorsionFree()) return 'Ed25519 key has a small-order component';
  return null;
}

/**
 * SEQUENCE { SEQUENCE { OID, parameters? }, BIT STRING { 0 unused bits, key } }, DER, nothing after.
 * Returns the algorithm and parameters as DER hex (tag and length included) and the key bytes.
 */
function readSpki(der: Uint8Array): { algorithm: string; parameters: string | null; key: Uint8Array } | null {
  const outer = readTlv(der, 0);
  if (!outer || outer.tag !== 0x30 || outer.end !== der.length) return null;
  const algId = readTlv(der, outer.start);
  if (!algId || algId.tag !== 0x30) return null;
  const oid = readTlv(der, algId.start);
  if (!oid || oid.tag !== 0x06 || oid.end > algId.end) return null;
  const hex = (from: number, to: number) => Buffer.from(der.subarray(from, to)).toString('hex');
  const parameters = oid.end < algId.end ? hex(oid.end, algId.end) : null;
  const bits = readTlv(der, algId.end);
  if (!bits || bits.tag !== 0x03 || bits.end !== outer.end || bits.start >= bits.end || der[bits.start] !== 0) return null;
  return { algorithm: hex(algId.start, oid.end), parameters, key: der.subarray(bits.start + 1, bits.end) };
}

/** One DER tag-length-value at `at`: where its content starts and ends; null if it overruns. */
function readTlv(der: Uint8Array, at: number): { tag: number; start: number; end: number } | null {
  if (at + 2 > der.length) return null;
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > der.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end > der.length ? null : { tag, start, end };
}

/** Malformed signatures make Node throw; to a verifier they are simply invalid. */
function guarded(fn: VerifyFn): VerifyFn {
  return (data, sig) => {
    try {
      return fn(data, sig);
    } catch {
      return false;
    }
  };
}
