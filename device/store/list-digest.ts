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
const words = new Uint32Array(9);
/** Hex digit values by char code, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = HEX['0123456789ABCDEF'.charCodeAt(i)] = i;

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

function numbers(at: number, s: number, at2: number, until: number): number {
  words[at] = s >>> 0;
  words[at + 1] = at2 >>> 0;
  words[at + 2] = Math.floor(at2 / TWO32) >>> 0;
  words[at + 3] = until >>> 0;
  words[at + 4] = Math.floor(until / TWO32) >>> 0;
  return at + 5;
}

/** Key words from lower- or upper-case hex: 32 characters by char code, anything else as parseInt reads it. */
function hexWords(hexKey: string): number {
  if (hexKey.length === 32) {
    let bad = 0;
    for (let i = 0; i < 4; i++) {
      let w = 0;
      for (let j = i * 8; j < i * 8 + 8; j++) {
        const c = hexKey.charCodeAt(j);
        const d = c < 128 ? HEX[c]! : -1;
        bad |= d;
        w = (w << 4) | (d & 15);
      }
      words[i] = w;
    }
    if (bad >= 0) return 4;
  }
  const n = Math.min(4, hexKey.length >> 3);
  for (let i = 0; i < n; i++) words[i] = parseInt(hexKey.slice(i * 8, i * 8 + 8), 16);
  return n;
}

function bytesWords(k: Uint8Array): number {
  const n = Math.min(4, k.length >> 2);
  for (let i = 0; i < n; i++) words[i] = ((k[i * 4]! << 24) | (k[i * 4 + 1]! << 16) | (k[i * 4 + 2]! << 8) | k[i * 4 + 3]!) >>> 0;
  return n;
}

/**
 * A list's digest while it changes: four 32-bit lanes held as numbers, written back as bytes once
 * (a Buffer read and write per lane per entry cost more than the hash itself on a million entries).
 * Adding an entry and taking it out are the same XOR.
 */
export class ListDigest {
  private l0 = 0;
  private l1 = 0;
  private l2 = 0;
  private l3 = 0;

  static of(bytes: Uint8Array): ListDigest {
    const d = new ListDigest();
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    d.l0 = v.getUint32(0);
    d.l1 = v.getUint32(4);
    d.l2 = v.getUint32(8);
    d.l3 = v.getUint32(12);
    return d;
  }

  /** Adds or takes out one entry given by its key in hex (as lists carry it). */
  xorHex(hexKey: string, s: number, at: number, until: number): void {
    this.xorWords(numbers(hexWords(hexKey), s, at, until));
  }

  /** The same for a key given by its bytes (as the table holds it). */
  xorBytes(k: Uint8Array, s: number, at: number, until: number): void {
    this.xorWords(numbers(bytesWords(k), s, at, until));
  }

  bytes(): Buffer {
    const b = Buffer.allocUnsafe(DIGEST_BYTES);
    b.writeUInt32BE(this.l0 >>> 0, 0);
    b.writeUInt32BE(this.l1 >>> 0, 4);
    b.writeUInt32BE(this.l2 >>> 0, 8);
    b.writeUInt32BE(this.l3 >>> 0, 12);
    return b;
  }

  /** lane ^= hash(words[0..n)) for each lane. */
  private xorWords(n: number): void {
    this.l0 ^= laneHash(0, n);
    this.l1 ^= laneHash(1, n);
    this.l2 ^= laneHash(2, n);
    this.l3 ^= laneHash(3, n);
  }
}

function laneHash(lane: number, n: number): number {
  let h = SEEDS[lane]! ^ lane;
  const salt = lane * 0x01000193;
  for (let i = 0; i < n; i++) h = mix(h, words[i]! ^ salt);
  return fmix(h ^ n);
}

/** The digest of every row of `rows` ([k, s, at, until]), and how many rows there were. */
export function digestOf(rows: Iterable<[Uint8Array, number, number, number]>): { digest: Buffer; entries: number } {
  const acc = new ListDigest();
  let entries = 0;
  for (const [k, s, at, until] of rows) {
    acc.xorBytes(k, s, at, until);
    entries++;
  }
  return { digest: acc.bytes(), entries };
}
