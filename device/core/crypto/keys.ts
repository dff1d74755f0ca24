/**
 * Public keys as the trust bundle carries them (§1, §4), turned once into verify functions that the
 * hot path calls. Node's crypto for ES256, EdDSA and PS256; our own SM2 (Node's is not GB/T 32918.2).
 */
import { createHash, createPublicKey, verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import type { Alg } from '../types.js';
import { sm2PublicKeyFromSpki, sm2Verify } from './sm2.js';

export type VerifyFn = (data: Uint8Array, signature: Uint8Array) => boolean;

/** `kid` of a key or certificate: hex of the first 8 bytes of SHA-256 over its DER (§ notation). */
export function kidOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest().subarray(0, 8).toString('hex');
}

/** Throws when the SPKI does not hold a key of the kind `alg` names: a key serves one algorithm only. */
export function verifierFor(alg: Alg, spki: Uint8Array): VerifyFn {
  if (alg === 'SM2SM3') {
    const key = sm2PublicKeyFromSpki(spki);
    return (data, sig) => sig.length === 64 && sm2Verify(key, data, sig);
  }
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return nodeVerifier(alg, key);
}

export function nodeVerifier(alg: Exclude<Alg, 'SM2SM3'>, key: KeyObject): VerifyFn {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (alg) {
    case 'ES256':
      if (type !== 'ec' || details.namedCurve !== 'prime256v1') throw new Error('ES256 needs a P-256 key');
      return guarded((data, sig) =>
        sig.length === 64 && nodeVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
      );
    case 'EdDSA':
      if (type !== 'ed25519') throw new Error('EdDSA needs an Ed25519 key');
      return guarded((data, sig) => sig.length === 64 && nodeVerify(null, data, key, sig));
    case 'PS256':
      if ((type !== 'rsa' && type !== 'rsa-pss') || (details.modulusLength ?? 0) < 2048) {
        throw new Error('PS256 needs an RSA key of 2048 bits or more');
      }
      return guarded((data, sig) =>
        nodeVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
      );
  }
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
