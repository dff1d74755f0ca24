/** Input generators and the decoder property shared by the property tests and `npm run fuzz`. */
import fc from 'fast-check';
import { base45Decode, base45Encode } from '../../device/core/base45.js';
import type { Outcome } from '../../device/core/decide.js';

const ALLOWED_DENIALS = new Set(['UNREADABLE', 'UNSUPPORTED_FORMAT', 'BAD_ENCODING', 'UNKNOWN_KEY', 'BAD_SIGNATURE']);

/** Random text, random Base45 after a known prefix, and valid codes with bytes flipped, cut or spliced. */
export function codeArbitrary(valid: string[]): fc.Arbitrary<string> {
  const validBytes = valid.map((v) => base45Decode(v.slice(4))!);
  const mutated = fc
    .tuple(fc.constantFrom(...validBytes), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()))
    .map(([bytes, flips, cut]) => {
      const b = Uint8Array.from(bytes);
      for (const [i, x] of flips) b[i % b.length]! ^= x;
      return `HP1:${base45Encode(cut === null ? b : b.subarray(0, cut % b.length))}`;
    });
  return fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 400 }).map((b) => `HP1:${base45Encode(b)}`),
    fc.uint8Array({ maxLength: 400 }).map((b) => `HC1:${base45Encode(b)}`),
    fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:'), maxLength: 1200 }).map((s) => `HP1:${s}`),
    mutated,
  );
}

/** The property: any code gets a deny with a decoding or signature reason; nothing throws. */
export function decoderProperty(arb: fc.Arbitrary<string>, decide: (text: string) => Outcome) {
  return fc.property(arb, (text) => {
    const outcome = decide(text);
    if (outcome.kind !== 'decided') throw new Error('a code asked for a look-up');
    const { result, reason } = outcome.decision;
    if (result !== 'deny' || !ALLOWED_DENIALS.has(reason)) throw new Error(`unexpected ${result}/${reason} for ${text.slice(0, 80)}`);
  });
}

/** Envelope text: random JSON-ish strings and a valid envelope with one part mutated. */
export function envelopeArbitrary(valid: string): fc.Arbitrary<string> {
  const env = JSON.parse(valid) as Record<string, string>;
  const part = fc.constantFrom('protected', 'payload', 'signature');
  return fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.json({ maxDepth: 3 }),
    fc.tuple(part, fc.string({ maxLength: 100 })).map(([p, v]) => JSON.stringify({ ...env, [p]: v })),
    fc.tuple(part, fc.nat(), fc.string({ minLength: 1, maxLength: 3 })).map(([p, i, s]) => {
      const v = env[p]!;
      const at = i % (v.length + 1);
      return JSON.stringify({ ...env, [p]: v.slice(0, at) + s + v.slice(at) });
    }),
  );
}

/** List payloads: near-valid deltas and chunks with fields randomised, plus arbitrary JSON. */
export function listPayloadArbitrary(): fc.Arbitrary<unknown> {
  const key = fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 32, maxLength: 32 }), fc.string({ maxLength: 40 }));
  const entry = fc.oneof(fc.tuple(key, fc.integer({ min: -1, max: 4 }), fc.integer(), fc.integer()), fc.jsonValue());
  const num = fc.oneof(fc.integer({ min: -5, max: 1e6 }), fc.double(), fc.constant(null));
  return fc.oneof(
    fc.jsonValue(),
    fc.record({ list: fc.constantFrom('tokens', 'holders', 'x'), from: num, to: num, put: fc.array(entry, { maxLength: 5 }), del: fc.array(key, { maxLength: 3 }) }, { requiredKeys: [] }),
    fc.record({ list: fc.constantFrom('tokens', 'holders'), snapshot: num, chunk: num, chunks: num, count: num, put: fc.array(entry, { maxLength: 5 }) }, { requiredKeys: [] }),
  );
}
