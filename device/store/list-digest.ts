/**
 * A content digest per list (defect 13): SQLite keeps no checksum of a page's content, so a flipped
 * byte inside a list entry passes `quick_check` and `integrity_check` alike and silently turns a
 * green holder into an unknown one. Each list keeps the XOR of a hash of every entry, updated with
 * each put and delete (XOR is its own inverse, so order does not matter), and the integrity check
 * recomputes it from the table.
 *
 * The entry hash is four 32-bit lanes of a multiply-rotate mix (murmur3's constants and finaliser),
 * not a cryptographic hash: it is there to find corruption, not forgery (whoever can write the file
 * can rewrite the digest as well), and a million-entry list sync must not pay a SHA per entry (it
 * took 3.3 s of a 1M delta's apply).
 */
export const DIGEST_BYTES = 16;
export const EMPTY_DIGEST = (): Buffer => Buffer.alloc(DIGEST_BYTES);

const SEEDS = [0x9747b28c, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f] as const;
const TWO32 = 4294967296;
const words = new Uint32Array(10);

function mix(h: number, x: number): number {
  let k = Math.imul(x, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** acc ^= hash(words[0..n)), lane by lane. */
function xorWords(acc: Buffer, n: number): void {
  for (let lane = 0; lane < 4; lane++) {
    let h = SEEDS[lane]! ^ lane;
    for (let i = 0; i < n; i++) h = mix(h, words[i]! ^ (lane * 0x01000193));
    acc.writeUInt32BE((acc.readUInt32BE(lane * 4) ^ fmix(h ^ n)) >>> 0, lane * 4);
  }
}

function numbers(at: number, s: number, at2: number, until: number): number {
  words[at] = s >>> 0;
  words[at + 1] = at2 >>> 0;
  words[at + 2] = Math.floor(at2 / TWO32) >>> 0;
  words[at + 3] = until >>> 0;
  words[at + 4] = Math.floor(until / TWO32) >>> 0;
  return at + 5;
}

/** acc ^= the hash of one entry given by its key bytes (as the table holds it). */
export function xorEntry(acc: Buffer, k: Uint8Array, s: number, at: number, until: number): void {
  const n = Math.min(4, k.length >> 2);
  const view = new DataView(k.buffer, k.byteOffset, k.byteLength);
  for (let i = 0; i < n; i++) words[i] = view.getUint32(i * 4);
  xorWords(acc, numbers(n, s, at, until));
}

/** acc ^= the hash of one entry given by its key in lower-case hex (as lists carry it): the same hash as xorEntry. */
export function xorHexEntry(acc: Buffer, hexKey: string, s: number, at: number, until: number): void {
  const n = Math.min(4, hexKey.length >> 3);
  for (let i = 0; i < n; i++) words[i] = parseInt(hexKey.slice(i * 8, i * 8 + 8), 16);
  xorWords(acc, numbers(n, s, at, until));
}

/** The digest of every row of `rows` ([k, s, at, until]), and how many rows there were. */
export function digestOf(rows: Iterable<[Uint8Array, number, number, number]>): { digest: Buffer; entries: number } {
  const acc = EMPTY_DIGEST();
  let entries = 0;
  for (const [k, s, at, until] of rows) {
    xorEntry(acc, k, s, at, until);
    entries++;
  }
  return { digest: acc, entries };
}
