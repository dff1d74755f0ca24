/**
 * SM2 against the standard's worked example, against sm-crypto (an independent implementation, both
 * directions), and against the ways verification must fail. Node's own crypto shows the trap this
 * module exists for.
 */
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { createHash, createPublicKey, generateKeyPairSync, getCurves, randomBytes, randomInt, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  sm2GenerateKeyPair,
  sm2Precompute,
  sm2PublicKeyFromPoint,
  sm2PublicKeyFromSpki,
  sm2Sign,
  sm2SpkiFromPoint,
  sm2Verify,
} from '../../../../device/core/crypto/sm2.js';

/** Bytes the next `randomBytes` calls return, so the annex's k can be fed to `sm2Sign`. Empty: real randomness. */
const rng = vi.hoisted(() => ({ queue: [] as Buffer[] }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, randomBytes: (size: number) => rng.queue.shift() ?? actual.randomBytes(size) };
});

/** sm-crypto ships no types; this is the part of its API used here (hex strings, 04-prefixed public keys). */
interface SmCryptoSm2 {
  generateKeyPairHex(): { privateKey: string; publicKey: string };
  getPublicKeyFromPrivateKey(privateKey: string): string;
  doSignature(
    msg: Uint8Array | string,
    privateKey: string,
    opts: { hash: boolean; der: boolean; userId?: string; publicKey?: string },
  ): string;
  doVerifySignature(
    msg: Uint8Array | string,
    signature: string,
    publicKey: string,
    opts: { hash: boolean; der: boolean; userId?: string },
  ): boolean;
}
const smCrypto = createRequire(import.meta.url)('sm-crypto') as { sm2: SmCryptoSm2 };

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const be32 = (v: bigint): string => v.toString(16).padStart(64, '0');

/** GB/T 32918.2-2016 Annex A (SM2 recommended curve), as in OpenSSL's test/sm2_internal_test.c. */
const ANNEX = {
  d: '3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8',
  point:
    '04' +
    '09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020' +
    'CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13',
  id: '1234567812345678',
  message: 'message digest',
  za: 'B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3',
  e: 'F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640',
  k: '59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21',
  r: 'F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3',
  s: 'B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA',
};

describe('GB/T 32918.2 Annex A', () => {
  const key = sm2PublicKeyFromPoint(hex(ANNEX.point));
  const message = ascii(ANNEX.message);
  const signature = hex(ANNEX.r + ANNEX.s);

  it('Z_A and e', () => {
    expect(toHex(key.za)).toBe(ANNEX.za.toLowerCase());
    expect(createHash('sm3').update(key.za).update(message).digest('hex')).toBe(ANNEX.e.toLowerCase());
  });

  it('the published signature verifies, with the default ID and with it given', () => {
    // 40 rounds: past the point where the key gets its precomputed table, so both paths are checked.
    for (let i = 0; i < 40; i++) {
      expect(sm2Verify(key, message, signature)).toBe(true);
      expect(sm2Verify(key, message, signature, ascii(ANNEX.id))).toBe(true);
      expect(sm2Verify(key, ascii('message digesT'), signature)).toBe(false);
    }
  });

  it('signing with the annex k reproduces r and s, so d_A gives the annex public key', () => {
    // k = 0 and k = n are out of range: sm2Sign must draw again rather than use them.
    rng.queue.push(Buffer.alloc(32), hex(be32(N)), hex(ANNEX.k));
    expect(toHex(sm2Sign(hex(ANNEX.d), message))).toBe((ANNEX.r + ANNEX.s).toLowerCase());
    expect(rng.queue).toEqual([]);
  });

  it('sm-crypto agrees on the public key for d_A', () => {
    expect(smCrypto.sm2.getPublicKeyFromPrivateKey(ANNEX.d.toLowerCase())).toBe(ANNEX.point.toLowerCase());
  });
});

describe('interoperability with sm-crypto', () => {
  const randomMessage = (): Buffer => randomBytes(randomInt(0, 300));
  const opts = { hash: true, der: false };

  it('sm-crypto signatures verify here (50 keys)', () => {
    for (let i = 0; i < 50; i++) {
      const { privateKey, publicKey } = smCrypto.sm2.generateKeyPairHex();
      const message = randomMessage();
      const signature = hex(smCrypto.sm2.doSignature(message, privateKey, { ...opts, publicKey }));
      expect(sm2Verify(sm2PublicKeyFromPoint(hex(publicKey)), message, signature)).toBe(true);
    }
  });

  it('sm-crypto signatures verify here, for one key in regular use (precomputed table)', () => {
    const { privateKey, publicKey } = smCrypto.sm2.generateKeyPairHex();
    const key = sm2PublicKeyFromPoint(hex(publicKey));
    sm2Precompute(key);
    for (let i = 0; i < 50; i++) {
      const message = randomMessage();
      const signature = hex(smCrypto.sm2.doSignature(message, privateKey, { ...opts, publicKey }));
      expect(sm2Verify(key, message, signature)).toBe(true);
    }
  });

  it('signatures made here verify in sm-crypto (50 keys)', () => {
    for (let i = 0; i < 50; i++) {
      const { privateKey, point } = sm2GenerateKeyPair();
      const message = randomMessage();
      const signature = toHex(sm2Sign(privateKey, message));
      expect(smCrypto.sm2.doVerifySignature(message, signature, toHex(point), opts)).toBe(true);
    }
  });

  it('agrees on a non-default ID, both ways', () => {
    const { privateKey, point } = sm2GenerateKeyPair();
    const key = sm2PublicKeyFromPoint(point);
    const userId = 'gate-issuer@example.cn';
    const message = ascii('health code');
    const theirs = hex(smCrypto.sm2.doSignature(message, toHex(privateKey), { ...opts, userId }));
    expect(sm2Verify(key, message, theirs, ascii(userId))).toBe(true);
    expect(sm2Verify(key, message, theirs)).toBe(false);
    const ours = toHex(sm2Sign(privateKey, message, ascii(userId)));
    expect(smCrypto.sm2.doVerifySignature(message, ours, toHex(point), { ...opts, userId })).toBe(true);
    expect(smCrypto.sm2.doVerifySignature(message, ours, toHex(point), opts)).toBe(false);
  });
});

describe.each(['textbook verification', 'precomputed table'])('rejections (%s)', (path) => {
  const pair = sm2GenerateKeyPair();
  const key = sm2PublicKeyFromPoint(pair.point);
  if (path === 'precomputed table') sm2Precompute(key);
  const message = ascii('{"status":1}');
  const signature = sm2Sign(pair.privateKey, message);
  const withRS = (r: bigint, s: bigint): Buffer => hex(be32(r) + be32(s));
  const r = BigInt('0x' + toHex(signature.subarray(0, 32)));
  const s = BigInt('0x' + toHex(signature.subarray(32)));

  it('accepts the untouched signature', () => {
    expect(sm2Verify(key, message, signature)).toBe(true);
  });

  it('tampered message, signature byte, wrong key, other ID', () => {
    expect(sm2Verify(key, ascii('{"status":3}'), signature)).toBe(false);
    expect(sm2Verify(key, Buffer.concat([message, Buffer.of(0)]), signature)).toBe(false);
    for (const at of [0, 31, 32, 63]) {
      const bad = Uint8Array.from(signature);
      bad[at]! ^= 0x01;
      expect(sm2Verify(key, message, bad)).toBe(false);
    }
    expect(sm2Verify(sm2PublicKeyFromPoint(sm2GenerateKeyPair().point), message, signature)).toBe(false);
    expect(sm2Verify(key, message, signature, ascii('1234567812345679'))).toBe(false);
    expect(sm2Verify(key, message, signature, new Uint8Array(0))).toBe(false);
    expect(sm2Verify(key, message, signature, new Uint8Array(9000))).toBe(false); // longer than ENTL allows
  });

  it('r or s out of [1, n-1], and r + s = n', () => {
    const max = 2n ** 256n - 1n;
    for (const [rr, ss] of [
      [0n, s],
      [r, 0n],
      [N, s],
      [r, N],
      [max, s],
      [r, max],
      [N - s, s],
    ] as const) {
      expect(sm2Verify(key, message, withRS(rr, ss))).toBe(false);
    }
  });

  it('wrong signature lengths', () => {
    for (const bad of [new Uint8Array(0), signature.subarray(0, 63), Buffer.concat([signature, Buffer.of(0)])]) {
      expect(sm2Verify(key, message, bad)).toBe(false);
    }
  });

  it('random signatures and messages never verify and never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ maxLength: 300 }), (sig, msg) => {
        expect(sm2Verify(key, msg, sig)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('sign refuses private keys outside [1, n-2]', () => {
    for (const d of [0n, N - 1n, N]) expect(() => sm2Sign(hex(be32(d)), message)).toThrow();
    expect(() => sm2Sign(pair.privateKey.subarray(1), message)).toThrow();
  });
});

describe('SubjectPublicKeyInfo', () => {
  const { point, spki } = sm2GenerateKeyPair();

  it('round trips', () => {
    expect(toHex(sm2SpkiFromPoint(point))).toBe(toHex(spki));
    expect(toHex(sm2PublicKeyFromSpki(spki).point)).toBe(toHex(point));
    expect(spki.length).toBe(91);
  });

  it.skipIf(!getCurves().includes('SM2'))('matches the SPKI that OpenSSL writes for an SM2-curve key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
    const der = publicKey.export({ format: 'der', type: 'spki' });
    const key = sm2PublicKeyFromSpki(der);
    expect(toHex(sm2SpkiFromPoint(key.point))).toBe(der.toString('hex'));
  });

  it('refuses a P-256 key, truncated or extended DER, and points off the curve', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(p256.length).toBe(91); // same shape, only the curve OID differs
    expect(() => sm2PublicKeyFromSpki(p256)).toThrow();
    expect(() => sm2PublicKeyFromSpki(spki.subarray(0, 90))).toThrow();
    expect(() => sm2PublicKeyFromSpki(spki.subarray(0, 20))).toThrow();
    expect(() => sm2PublicKeyFromSpki(new Uint8Array(0))).toThrow();
    expect(() => sm2PublicKeyFromSpki(Buffer.concat([spki, Buffer.of(0)]))).toThrow();
    const offCurve = Uint8Array.from(spki);
    offCurve[90]! ^= 0x01;
    expect(() => sm2PublicKeyFromSpki(offCurve)).toThrow();
    expect(() => sm2SpkiFromPoint(offCurve.subarray(26))).toThrow();
    expect(() => sm2PublicKeyFromPoint(Buffer.concat([Buffer.of(4), Buffer.alloc(64)]))).toThrow();
  });

  it('points must be 65-byte uncompressed', () => {
    const compressed = Buffer.concat([Buffer.of(2 + (point[64]! & 1)), point.subarray(1, 33)]);
    expect(() => sm2PublicKeyFromPoint(compressed)).toThrow();
    expect(() => sm2PublicKeyFromPoint(point.subarray(1))).toThrow();
  });
});

describe.skipIf(!getCurves().includes('SM2'))("Node's crypto is not SM2", () => {
  // OpenSSL treats an 'ec' key on the SM2 curve as ECDSA: e = SM3(M), no Z_A, ECDSA's equation.
  it('an SM2-curve key signing with sm3 makes signatures that SM2 verification rejects', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
    const key = sm2PublicKeyFromSpki(publicKey.export({ format: 'der', type: 'spki' }));
    const message = ascii('health code');
    const nodeSignature = sign('sm3', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verify('sm3', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, nodeSignature)).toBe(true);
    expect(sm2Verify(key, message, nodeSignature)).toBe(false);
    expect(sm2Verify(key, message, nodeSignature, new Uint8Array(0))).toBe(false);
  });

  it('nor does Node accept a real SM2 signature', () => {
    const pair = sm2GenerateKeyPair();
    const message = ascii('health code');
    const signature = sm2Sign(pair.privateKey, message);
    const nodeKey = createPublicKey({ key: Buffer.from(pair.spki), format: 'der', type: 'spki' });
    expect(verify('sm3', message, { key: nodeKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
  });
});
