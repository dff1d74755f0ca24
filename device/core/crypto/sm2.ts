/**
 * SM2 signatures (GB/T 32918.2, GM/T 0003.2) with SM3 and the Z_A user hash. Node's crypto cannot
 * do this: with a key on the SM2 curve it signs plain ECDSA over SM3(M), which SM2 verifiers reject.
 *
 * Curve arithmetic is @noble/curves; verification adds a fast path of its own because gates verify
 * the same few issuer keys all day: fixed-base tables in affine form for G and for each trusted key
 * (`sm2Precompute`), walked with mixed Jacobian additions, which cost about half of noble's complete
 * projective ones. A table costs tens of milliseconds, so it is never built inside a verification:
 * the caller schedules the builds (one per event-loop turn in the service, none in a one-shot
 * command) and a key without its table verifies the textbook way until then.
 * Verification only touches public data, so variable time is fine there; signing uses noble's
 * constant-time multiply.
 */
import { createHash, randomBytes } from 'node:crypto';
import { normalizeZ } from '@noble/curves/abstract/curve.js';
import { invert } from '@noble/curves/abstract/modular.js';
import { weierstrass, type WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { bytesToNumberBE, concatBytes, equalBytes, hexToBytes, numberToBytesBE } from '@noble/curves/utils.js';

/** sm2p256v1, GB/T 32918.5. */
const CURVE = {
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  h: 1n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
};
const Point = weierstrass(CURVE);
type Pt = WeierstrassPoint<bigint>;
const { p, n } = CURVE;

const DEFAULT_ID = new TextEncoder().encode('1234567812345678');
/** ENTL, the ID length in bits, has 16 bits. */
const MAX_ID_BYTES = 8191;
/** a ‖ b ‖ xG ‖ yG: the key-independent middle of Z_A. */
const CURVE_BYTES = concatBytes(...[CURVE.a, CURVE.b, CURVE.Gx, CURVE.Gy].map((v) => numberToBytesBE(v, 32)));

/**
 * SEQUENCE { SEQUENCE { id-ecPublicKey, SM2 }, BIT STRING { 04 ‖ x ‖ y } } up to the point. DER
 * allows exactly one encoding of this, so comparing bytes is a complete parse.
 */
const SPKI_PREFIX = hexToBytes('3059301306072a8648ce3d020106082a811ccf5501822d034200');

/**
 * Window width of the fixed-base tables: a verification costs about 2·256/W point additions, a
 * table holds (256/W + 1)·2^(W-1) points. W = 8 makes that 66 additions and 4,224 points (about
 * 0.5 MB, 45 ms to build here); W = 10 saves only ~6% of verify time for 3x the memory and build
 * time.
 */
const WINDOW = 8;
/**
 * A key's own table uses the same width. W = 6 would build in a third of the time (~40 ms instead of
 * ~110 ms per key on a loaded 2-core machine) but verify ~40% slower; trust is compiled rarely and
 * codes are verified all day.
 */
const KEY_WINDOW = WINDOW;

/** Only values from `sm2PublicKeyFromSpki` / `sm2PublicKeyFromPoint` work: they can carry tables. */
export interface Sm2PublicKey {
  /** 65-byte uncompressed point 04 ‖ x ‖ y. */
  readonly point: Uint8Array;
  /** Z_A for the default ID; it depends only on the key, so it is hashed once. */
  readonly za: Uint8Array;
}

class Key implements Sm2PublicKey {
  readonly za: Uint8Array;
  /** Built by `sm2Precompute`, never inside a verification: a table costs tens of milliseconds. */
  table: Table | undefined;
  constructor(
    readonly point: Uint8Array,
    readonly P: Pt,
  ) {
    this.za = userHash(point, DEFAULT_ID);
  }
}

/**
 * Builds the key's fixed-base table (and G's, once per process), so that its verifications take the
 * fast path. Idempotent; the caller decides when (it blocks for tens of milliseconds per table).
 */
export function sm2Precompute(key: Sm2PublicKey): void {
  if (!(key instanceof Key)) throw new TypeError('sm2Precompute needs a key from sm2PublicKeyFromSpki/FromPoint');
  baseTable();
  key.table ??= buildTable(key.P, KEY_WINDOW);
}

/** G's table alone (once per process), so that a caller can build one table per step. */
export function sm2PrecomputeBase(): void {
  baseTable();
}

export function sm2BaseTableBuilt(): boolean {
  return G_TABLE !== undefined;
}

/** The key verifies by its table (and G's), not the textbook way. */
export function sm2HasTable(key: Sm2PublicKey): boolean {
  return key instanceof Key && key.table !== undefined;
}

let warmed = false;
/**
 * Runs the textbook verification a few times over G as the key (the result is false and does not
 * matter), once per process: the first verifications of a cold process cost several times a warm
 * one while the engine compiles the BigInt arithmetic, and that should not fall on a decision.
 */
export function sm2Warm(): void {
  if (warmed) return;
  warmed = true;
  const key = new Key(Point.BASE.toBytes(false), Point.BASE);
  const message = Uint8Array.of(0);
  for (let i = 1; i <= 3; i++) sm2Verify(key, message, new Uint8Array(64).fill(i));
}

let tablesBuilt = 0;
/** Fixed-base tables built in this process so far (G's included): memory accounting and tests. */
export function sm2TablesBuilt(): number {
  return tablesBuilt;
}

export function sm2PublicKeyFromPoint(point: Uint8Array): Sm2PublicKey {
  const P = decodePoint(point);
  return new Key(Uint8Array.from(point), P);
}

export function sm2PublicKeyFromSpki(spki: Uint8Array): Sm2PublicKey {
  if (spki.length !== SPKI_PREFIX.length + 65 || !equalBytes(spki.subarray(0, SPKI_PREFIX.length), SPKI_PREFIX)) {
    throw new Error('not an SM2 SubjectPublicKeyInfo (id-ecPublicKey, namedCurve SM2, uncompressed point)');
  }
  return sm2PublicKeyFromPoint(spki.subarray(SPKI_PREFIX.length));
}

export function sm2SpkiFromPoint(point: Uint8Array): Uint8Array {
  decodePoint(point);
  return concatBytes(SPKI_PREFIX, point);
}

export function sm2Verify(key: Sm2PublicKey, message: Uint8Array, signature: Uint8Array, id?: Uint8Array): boolean {
  if (!(key instanceof Key)) throw new TypeError('sm2Verify needs a key from sm2PublicKeyFromSpki/FromPoint');
  if (signature.length !== 64 || (id !== undefined && id.length > MAX_ID_BYTES)) return false;
  const r = bytesToNumberBE(signature.subarray(0, 32));
  const s = bytesToNumberBE(signature.subarray(32));
  if (r < 1n || r >= n || s < 1n || s >= n) return false;
  const t = (r + s) % n;
  if (t === 0n) return false;
  const e = digest(id === undefined ? key.za : userHash(key.point, id), message);
  const table = key.table;
  if (table === undefined || G_TABLE === undefined) {
    const R = Point.BASE.mulAddUnsafe(s, key.P, t); // the textbook way, for keys without a table
    return !R.is0() && (e + R.x) % n === r;
  }
  const sum = walk(table, t, walk(G_TABLE, s, null));
  if (sum === null) return false; // s·G + t·P_A at infinity has no x1
  // (e + x1) mod n = r  ⇔  x1 ∈ {c, c + n} with c = (r − e) mod n, as x1 < p < 2n. Comparing
  // X with c·Z² for each candidate saves the inversion that the affine x1 would need.
  const c = (r + n - (e % n)) % n;
  const zz = (sum.Z * sum.Z) % p;
  return (c * zz - sum.X) % p === 0n || (c + n < p && ((c + n) * zz - sum.X) % p === 0n);
}

export function sm2Sign(privateKey: Uint8Array, message: Uint8Array, id: Uint8Array = DEFAULT_ID): Uint8Array {
  const d = privateScalar(privateKey);
  const point = Point.BASE.multiply(d).toBytes(false);
  const e = digest(userHash(point, id), message);
  const dInv = invert(1n + d, n);
  for (;;) {
    const k = randomScalar();
    const x1 = Point.BASE.multiply(k).x;
    const r = (e + x1) % n;
    if (r === 0n || r + k === n) continue;
    const s = (dInv * (k - ((r * d) % n) + n)) % n;
    if (s === 0n) continue;
    return concatBytes(numberToBytesBE(r, 32), numberToBytesBE(s, 32));
  }
}

export function sm2GenerateKeyPair(): { privateKey: Uint8Array; point: Uint8Array; spki: Uint8Array } {
  let d: bigint;
  do d = randomScalar();
  while (d === n - 1n); // 1 + d must be invertible mod n
  const point = Point.BASE.multiply(d).toBytes(false);
  return { privateKey: numberToBytesBE(d, 32), point, spki: concatBytes(SPKI_PREFIX, point) };
}

/** 65-byte 04 ‖ x ‖ y on the curve, not infinity; noble checks the curve, we pin the form. */
function decodePoint(point: Uint8Array): Pt {
  if (point.length !== 65 || point[0] !== 0x04) throw new Error('SM2 public key must be a 65-byte uncompressed point');
  return Point.fromBytes(point);
}

function privateScalar(bytes: Uint8Array): bigint {
  const d = bytes.length === 32 ? bytesToNumberBE(bytes) : 0n;
  if (d < 1n || d > n - 2n) throw new Error('SM2 private key must be 32 bytes in [1, n-2]');
  return d;
}

/** Uniform in [1, n-1] by rejection; n is close to 2^256, so retries are rare. */
function randomScalar(): bigint {
  for (;;) {
    const k = bytesToNumberBE(randomBytes(32));
    if (k >= 1n && k < n) return k;
  }
}

/** Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL the ID length in bits as 2 bytes. */
function userHash(point: Uint8Array, id: Uint8Array): Uint8Array {
  if (id.length > MAX_ID_BYTES) throw new Error(`SM2 ID longer than ${MAX_ID_BYTES} bytes`);
  const entl = Uint8Array.of((id.length >> 5) & 0xff, (id.length << 3) & 0xff);
  return createHash('sm3').update(entl).update(id).update(CURVE_BYTES).update(point.subarray(1)).digest();
}

/** e = SM3(Z_A ‖ M) as an integer. */
function digest(za: Uint8Array, message: Uint8Array): bigint {
  return bytesToNumberBE(createHash('sm3').update(za).update(message).digest());
}

/**
 * Fixed-base table for signed W-bit windows: for window w, the affine points j·2^(W·w)·P for
 * j = 1..2^(W-1). One extra window absorbs the carry of the signed recoding.
 */
interface Table {
  readonly window: number;
  readonly xs: bigint[];
  readonly ys: bigint[];
}

let G_TABLE: Table | undefined;
function baseTable(): Table {
  return (G_TABLE ??= buildTable(Point.BASE, WINDOW));
}

function buildTable(P: Pt, window: number): Table {
  tablesBuilt++;
  const half = 2 ** (window - 1);
  const windows = Math.ceil(256 / window) + 1;
  const points: Pt[] = [];
  let base = P;
  for (let w = 0; w < windows; w++) {
    let acc = base;
    for (let j = 1; j < half; j++) {
      points.push(acc);
      acc = acc.add(base);
    }
    points.push(acc);
    base = acc.double(); // 2·(2^(W-1)·base) = 2^W·base, the next window's base
  }
  const affine = normalizeZ(Point, points);
  return { window, xs: affine.map((q) => q.X), ys: affine.map((q) => q.Y) };
}

/** Jacobian coordinates: x = X/Z², y = Y/Z³. `null` is the point at infinity. */
interface Jacobian {
  X: bigint;
  Y: bigint;
  Z: bigint;
}

/** acc + k·P over P's table, variable time (k is public). 1 <= k < n. */
function walk(table: Table, k: bigint, acc: Jacobian | null): Jacobian | null {
  const { window, xs, ys } = table;
  const size = 2 ** window;
  const half = size / 2;
  const mask = BigInt(size - 1);
  const shift = BigInt(window);
  for (let w = 0; k > 0n; w++) {
    let digit = Number(k & mask);
    k >>= shift;
    if (digit > half) {
      digit -= size; // negative digit, carry into the next window
      k += 1n;
    }
    if (digit === 0) continue;
    const i = w * half + Math.abs(digit) - 1;
    const y = ys[i]!;
    acc = addAffine(acc, xs[i]!, digit < 0 ? p - y : y);
  }
  return acc;
}

/** Mixed addition Jacobian + affine (8M + 3S), falling back to noble where x coordinates meet. */
function addAffine(acc: Jacobian | null, x2: bigint, y2: bigint): Jacobian | null {
  if (acc === null) return { X: x2, Y: y2, Z: 1n };
  const { X, Y, Z } = acc;
  const zz = (Z * Z) % p;
  let h = ((x2 * zz) % p) - X;
  if (h < 0n) h += p;
  let r = ((((y2 * Z) % p) * zz) % p) - Y;
  if (r < 0n) r += p;
  if (h === 0n) {
    if (r !== 0n) return null; // acc = -(x2, y2)
    const { x, y } = Point.fromAffine({ x: x2, y: y2 }).double().toAffine();
    return { X: x, Y: y, Z: 1n };
  }
  const hh = (h * h) % p;
  const hhh = (h * hh) % p;
  const v = (X * hh) % p;
  let X3 = (r * r - hhh - 2n * v) % p;
  if (X3 < 0n) X3 += p;
  let Y3 = (r * (v - X3) - Y * hhh) % p;
  if (Y3 < 0n) Y3 += p;
  return { X: X3, Y: Y3, Z: (Z * h) % p };
}
