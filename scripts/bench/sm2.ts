import { randomBytes } from 'node:crypto';
import { sm2GenerateKeyPair, sm2Precompute, sm2PublicKeyFromSpki, sm2Sign, sm2Verify } from '../../device/core/crypto/sm2.js';

/**
 * SM2 rates on one core. `verifyPerSec` is for a trusted key, the way a gate verifies: its table was
 * built when trust was compiled (table building and JIT warm-up stay outside the timing).
 * `naiveVerifyPerSec` is for a key without a table (the textbook double multiplication).
 */
export function benchSm2(durationMs = 2000): { verifyPerSec: number; signPerSec: number; naiveVerifyPerSec: number } {
  const { privateKey, spki } = sm2GenerateKeyPair();
  const key = sm2PublicKeyFromSpki(spki);
  sm2Precompute(key);
  const messages = Array.from({ length: 32 }, () => randomBytes(256)); // about a health-code payload
  const signatures = messages.map((m) => sm2Sign(privateKey, m));
  const check = (ok: boolean): void => {
    if (!ok) throw new Error('benchmark signature did not verify');
  };
  const verifyOne = (i: number): void => check(sm2Verify(key, messages[i % 32]!, signatures[i % 32]!));
  const verifyCold = (i: number): void =>
    check(sm2Verify(sm2PublicKeyFromSpki(spki), messages[i % 32]!, signatures[i % 32]!));
  const signOne = (i: number): void => void sm2Sign(privateKey, messages[i % 32]!);
  for (let i = 0; i < 200; i++) verifyOne(i);
  for (let i = 0; i < 50; i++) {
    verifyCold(i);
    signOne(i);
  }
  return {
    verifyPerSec: rate(durationMs, verifyOne),
    signPerSec: rate(durationMs, signOne),
    naiveVerifyPerSec: rate(durationMs, verifyCold),
  };
}

function rate(durationMs: number, op: (i: number) => void): number {
  const start = performance.now();
  let count = 0;
  let elapsed: number;
  do {
    op(count++);
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);
  return Math.round((count * 1000) / elapsed);
}
