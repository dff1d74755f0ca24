/**
 * Guard accounts for the console: a name and a slow, salted password hash (node's built-in scrypt,
 * so no dependency), kept in the gate's store. The password itself is never stored or logged.
 *
 * Hash format: `scrypt$N$r$p$<salt b64u>$<hash b64u>` — the parameters travel with the hash, so they
 * can be raised later without invalidating accounts. N = 2^14, r = 8 takes 16 MiB and ~50 ms on a
 * Pi 4: slow enough against guessing, quick enough for a guard at the screen.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A guard's account name (the audit actor is `guard:<name>`). */
export const GUARD_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 256;

const N = 1 << 14;
const R = 8;
const P = 1;
const KEYLEN = 32;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r + (1 << 20) }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `password` matches `stored`; false for a wrong password or a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{32,128})$/.exec(stored);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (n < 1024 || n > 1 << 20 || (n & (n - 1)) !== 0 || r < 1 || p < 1) return false;
  const want = Buffer.from(m[5]!, 'base64url');
  const got = await derive(password, Buffer.from(m[4]!, 'base64url'), n, r, p);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Why a name or password is not acceptable, or null. */
export function checkGuardName(name: string): string | null {
  return GUARD_NAME.test(name) ? null : 'a guard name is 1–32 of a-z 0-9 . _ - (starting with a letter or digit)';
}

export function checkPassword(password: string): string | null {
  const length = Array.from(password).length;
  if (length < MIN_PASSWORD) return `a password has at least ${MIN_PASSWORD} characters`;
  if (length > MAX_PASSWORD) return `a password has at most ${MAX_PASSWORD} characters`;
  return null;
}

/** Where the console finds accounts (the store implements it). */
export interface GuardAccountStore {
  guardHash(name: string): string | undefined;
  guards(): { name: string }[];
}

/** A hash to compare against when the account does not exist, so timing does not tell names apart. */
let decoy: Promise<string> | null = null;
export function decoyHash(): Promise<string> {
  return (decoy ??= hashPassword(randomBytes(12).toString('base64url')));
}
