/**
 * COSE_Sign1 (RFC 9052) decoding for HP1 and HC1, with the size limits applied before any crypto.
 * CBOR itself is cborg's, run in its strict modes; this module adds the COSE shape and the limits.
 * The map and string limits apply to the decoded headers and claims (§2), not to the byte strings
 * of the COSE_Sign1 itself: a payload bstr of 600 bytes is legal when each claim in it keeps them.
 */
import { decode as cborDecode } from 'cborg';

export interface CborLimits {
  maxMapEntries: number;
  maxStringBytes: number;
}

export interface CoseSign1 {
  protectedBytes: Uint8Array;
  protectedHeader: Map<unknown, unknown>;
  unprotectedHeader: Map<unknown, unknown>;
  payload: Uint8Array;
  signature: Uint8Array;
}

/** A malformed structure: the caller maps it to BAD_ENCODING. */
export class CoseFormatError extends Error {}

const COSE_SIGN1_TAG = 18;
const CWT_TAG = 61;
/** COSE header label `crit`. */
const CRIT = 2;

type TagDecoder = (decode: () => unknown) => unknown;
const passThrough: TagDecoder = (decode) => decode();

function strictDecode(bytes: Uint8Array, tags: Record<number, TagDecoder>): unknown {
  try {
    return cborDecode(bytes, {
      useMaps: true,
      rejectDuplicateMapKeys: true,
      allowUndefined: false,
      allowNaN: false,
      allowInfinity: false,
      allowBigInt: false,
      tags: tags as never,
    });
  } catch (e) {
    throw new CoseFormatError(`CBOR: ${(e as Error).message}`);
  }
}

/** Strict CBOR within `limits`; `passTags` are tags whose content is taken as it is (HC1 dates). */
export function decodeCbor(bytes: Uint8Array, limits: CborLimits, passTags: readonly number[] = []): unknown {
  const tags: Record<number, TagDecoder> = {};
  for (const t of passTags) tags[t] = passThrough;
  const value = strictDecode(bytes, tags);
  checkLimits(value, limits, 0);
  return value;
}

/**
 * Decodes a COSE_Sign1, tagged (18) or not; `allowCwtTag` also accepts a CWT tag 61 around it
 * (deployed DCC verifiers do, §3).
 */
export function decodeCoseSign1(bytes: Uint8Array, limits: CborLimits, allowCwtTag = false): CoseSign1 {
  let tagDepth = 0;
  const tag: TagDecoder = (decode) => {
    if (++tagDepth > 2) throw new CoseFormatError('nested tags');
    return decode();
  };
  const tags: Record<number, TagDecoder> = { [COSE_SIGN1_TAG]: tag };
  if (allowCwtTag) tags[CWT_TAG] = tag;
  const value = strictDecode(bytes, tags);
  if (!Array.isArray(value) || value.length !== 4) throw new CoseFormatError('COSE_Sign1 is not a 4-element array');
  const [protectedBytes, unprotectedHeader, payload, signature] = value as unknown[];
  if (!(protectedBytes instanceof Uint8Array)) throw new CoseFormatError('protected header is not a bstr');
  if (!(unprotectedHeader instanceof Map)) throw new CoseFormatError('unprotected header is not a map');
  if (!(payload instanceof Uint8Array)) throw new CoseFormatError('payload is not a bstr');
  if (!(signature instanceof Uint8Array)) throw new CoseFormatError('signature is not a bstr');
  checkLimits(unprotectedHeader, limits, 1);
  const protectedHeader = protectedBytes.length === 0 ? new Map() : decodeCbor(protectedBytes, limits);
  if (!(protectedHeader instanceof Map)) throw new CoseFormatError('protected header is not a map');
  // §2, RFC 9052 §3.1: the gate understands no critical header beyond alg and kid, which may not be
  // listed as critical; so any `crit` (even an empty one) is refused. Its place is the protected
  // header: one in the unprotected header is malformed, and refused too.
  if (protectedHeader.has(CRIT) || unprotectedHeader.has(CRIT)) throw new CoseFormatError('crit header (label 2): no critical header is understood');
  return { protectedBytes, protectedHeader, unprotectedHeader, payload, signature };
}

/** COSE Sig_structure ["Signature1", protected, h'', payload], built directly: it is on the hot path. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  const context = Buffer.from('Signature1', 'ascii');
  const parts = [
    Uint8Array.of(0x84),
    bstrHead(context.length, 0x60),
    context,
    bstrHead(protectedBytes.length, 0x40),
    protectedBytes,
    Uint8Array.of(0x40),
    bstrHead(payload.length, 0x40),
    payload,
  ];
  return Buffer.concat(parts);
}

function bstrHead(length: number, major: number): Uint8Array {
  if (length < 24) return Uint8Array.of(major | length);
  if (length < 0x100) return Uint8Array.of(major | 24, length);
  if (length < 0x10000) return Uint8Array.of(major | 25, length >> 8, length & 0xff);
  return Uint8Array.of(major | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
}

function checkLimits(value: unknown, limits: CborLimits, depth: number): void {
  if (depth > 16) throw new CoseFormatError('nesting too deep');
  if (typeof value === 'string') {
    if (Buffer.byteLength(value, 'utf8') > limits.maxStringBytes) throw new CoseFormatError('string over the limit');
  } else if (value instanceof Uint8Array) {
    if (value.length > limits.maxStringBytes) throw new CoseFormatError('byte string over the limit');
  } else if (Array.isArray(value)) {
    if (value.length > limits.maxMapEntries) throw new CoseFormatError('array over the limit');
    for (const v of value) checkLimits(v, limits, depth + 1);
  } else if (value instanceof Map) {
    if (value.size > limits.maxMapEntries) throw new CoseFormatError('map over the limit');
    for (const [k, v] of value) {
      checkLimits(k, limits, depth + 1);
      checkLimits(v, limits, depth + 1);
    }
  }
}
