/**
 * The list digest is kept on disk and recomputed by the integrity check: its value for a given list
 * content must never change with the code that computes it. The pinned values were computed by the
 * first implementation (device/store/list-digest.ts as of migration 2).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ListDigest, digestOf } from '../../../device/store/list-digest.js';

const keyOf = (i: number) => ((i * 2654435761) >>> 0).toString(16).padStart(8, '0') + i.toString(16).padStart(24, 'f');

describe('the list digest', () => {
  it('keeps the values stores already hold', () => {
    const d = new ListDigest();
    for (let i = 0; i < 1000; i++) d.xorHex(keyOf(i), i % 4, 1_700_000_000 + i, 4_102_444_800_000 + i);
    expect(d.bytes().toString('hex')).toBe('b412d65c48e0beb05be6fd661b599f7f');
    const one = new ListDigest();
    one.xorHex('ffffffff00000000deadbeef01234567', 3, 2 ** 40 + 5, 0);
    expect(one.bytes().toString('hex')).toBe('9386d852d0aebf53ef5fe410d065fe51');
  });

  it('is the same from hex keys (as lists carry them) and from key bytes (as the table holds them), in any order, and XOR takes an entry out', () => {
    const entry = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 3 }), fc.nat(), fc.maxSafeNat());
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), fc.boolean(), (entries, upper) => {
        const hex = new ListDigest();
        for (const [k, s, at, until] of entries) {
          const h = Buffer.from(k).toString('hex');
          hex.xorHex(upper ? h.toUpperCase() : h, s, at, until);
        }
        const rows = [...entries].reverse().map(([k, s, at, until]) => [k, s, at, until] as [Uint8Array, number, number, number]);
        const { digest, entries: n } = digestOf(rows);
        expect(hex.bytes()).toEqual(digest);
        expect(n).toBe(entries.length);
        for (const [k, s, at, until] of entries) hex.xorBytes(k, s, at, until);
        expect(ListDigest.of(hex.bytes()).bytes()).toEqual(Buffer.alloc(16));
      }),
      { numRuns: 300 },
    );
  });
});
