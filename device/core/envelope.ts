/**
 * Signed envelopes (§4): JWS flattened JSON serialization. Parsing never trusts the payload; it is
 * handed out only after the signature has verified against a key of the role the `typ` demands.
 */
import type { Alg } from './types.js';
import { PassgateError } from '../../base/errors.js';
import { b64uDecode } from './b64u.js';
import type { TrustedKey } from './trust.js';

export const ENVELOPE_TYPES = [
  'passgate-trust+json',
  'passgate-policy+json',
  'passgate-list+json',
  'passgate-lookup+json',
  'passgate-cmd+json',
  'passgate-ack+json',
] as const;
export type EnvelopeType = (typeof ENVELOPE_TYPES)[number];

export interface ParsedEnvelope {
  alg: Alg;
  kid: string;
  typ: EnvelopeType;
  signingInput: Buffer;
  signature: Buffer;
  payloadB64: string;
}

const ALGS: readonly string[] = ['ES256', 'EdDSA', 'SM2SM3'];

/**
 * A header value from an envelope not yet verified, as it may appear in a message: quoted, control
 * characters escaped, at most 24 characters of it. Whoever sent it is unknown: it must not fill or
 * forge log lines.
 */
function unverifiedText(v: unknown): string {
  const text = typeof v === 'string' ? v : String(v);
  return `${JSON.stringify(text.slice(0, 24))}${text.length > 24 ? '…' : ''}`;
}

/** Structure only: throws BAD_ENCODING for anything that is not a well-formed passgate envelope. */
export function parseEnvelope(text: string): ParsedEnvelope {
  let outer: unknown;
  try {
    outer = JSON.parse(text);
  } catch {
    throw new PassgateError('BAD_ENCODING', 'envelope is not JSON');
  }
  if (typeof outer !== 'object' || outer === null) throw new PassgateError('BAD_ENCODING', 'envelope is not an object');
  const { protected: prot, payload, signature } = outer as Record<string, unknown>;
  if (typeof prot !== 'string' || typeof payload !== 'string' || typeof signature !== 'string') {
    throw new PassgateError('BAD_ENCODING', 'envelope needs protected, payload and signature strings');
  }
  const headerBytes = b64uDecode(prot);
  const sig = b64uDecode(signature);
  if (!headerBytes || !sig || b64uDecode(payload.slice(0, 8)) === null) {
    throw new PassgateError('BAD_ENCODING', 'envelope part is not base64url');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch {
    throw new PassgateError('BAD_ENCODING', 'protected header is not JSON');
  }
  const { alg, kid, typ } = (header ?? {}) as Record<string, unknown>;
  if (typeof alg !== 'string' || !ALGS.includes(alg)) throw new PassgateError('BAD_ENCODING', `unsupported alg ${unverifiedText(alg)}`);
  if (typeof kid !== 'string' || !/^[0-9a-f]{16}$/.test(kid)) throw new PassgateError('BAD_ENCODING', 'kid is not 16 hex');
  if (typeof typ !== 'string' || !(ENVELOPE_TYPES as readonly string[]).includes(typ)) {
    throw new PassgateError('BAD_ENCODING', `unknown typ ${unverifiedText(typ)}`);
  }
  return {
    alg: alg as Alg,
    kid,
    typ: typ as EnvelopeType,
    signingInput: signingInput(prot, payload),
    signature: sig,
    payloadB64: payload,
  };
}

/**
 * `protected.payload` as bytes (ASCII: latin1 writes the same bytes), written part by part: joining
 * the strings first copies a million-entry list's payload once more.
 */
function signingInput(prot: string, payload: string): Buffer {
  const bytes = Buffer.allocUnsafe(prot.length + 1 + payload.length);
  bytes.write(prot, 0, 'latin1');
  bytes[prot.length] = 0x2e; // '.'
  bytes.write(payload, prot.length + 1, 'latin1');
  return bytes;
}

/**
 * Checks `typ` and the signature against the keys allowed to sign it; returns the payload JSON.
 * UNKNOWN_KEY when no allowed key has this kid with this alg; BAD_SIGNATURE when none verifies.
 */
export function openEnvelope(env: ParsedEnvelope, expected: EnvelopeType, signers: readonly TrustedKey[]): unknown {
  if (env.typ !== expected) throw new PassgateError('WRONG_TYPE', `expected ${expected}, got ${env.typ}`);
  const candidates = signers.filter((k) => k.kid === env.kid && k.alg === env.alg);
  if (candidates.length === 0) throw new PassgateError('UNKNOWN_KEY', `no ${env.alg} signer with kid ${env.kid}`);
  if (!candidates.some((k) => k.verify(env.signingInput, env.signature))) {
    throw new PassgateError('BAD_SIGNATURE', `signature does not verify (kid ${env.kid})`);
  }
  const payload = b64uDecode(env.payloadB64);
  if (!payload) throw new PassgateError('BAD_ENCODING', 'payload is not base64url');
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new PassgateError('BAD_ENCODING', 'payload is not JSON');
  }
}
