/**
 * A content digest per list (defect 13): SQLite keeps no checksum of a page's content, so a flipped
 * byte inside a list entry passes `quick_check` and `integrity_check` alike and silently turns a
 * green holder into an unknown one. Each list keeps the XOR of a hash of every entry, updated with
 * each put and delete (XOR is its own inverse, so order does not matter), and the integrity check
 * recomputes it from the table.
 */
import { hash } from 'node:crypto';

export const DIGEST_BYTES = 16;
export const EMPTY_DIGEST = (): Buffer => Buffer.alloc(DIGEST_BYTES);

/** The hash of one entry: key bytes, status, determined-at and until. */
export function entryDigest(k: Uint8Array, s: number, at: number, until: number): Buffer {
  const b = Buffer.allocUnsafe(k.length + 24);
  b.set(k, 0);
  b.writeDoubleBE(s, k.length);
  b.writeDoubleBE(at, k.length + 8);
  b.writeDoubleBE(until, k.length + 16);
  return (hash('sha1', b, 'buffer') as Buffer).subarray(0, DIGEST_BYTES);
}

/** acc ^= h, in place. */
export function xorInto(acc: Buffer, h: Uint8Array): void {
  for (let i = 0; i < DIGEST_BYTES; i++) acc[i]! ^= h[i]!;
}

/** The digest of every row of `rows` ([k, s, at, until]). */
export function digestOf(rows: Iterable<[Uint8Array, number, number, number]>): Buffer {
  const acc = EMPTY_DIGEST();
  for (const [k, s, at, until] of rows) xorInto(acc, entryDigest(k, s, at, until));
  return acc;
}
