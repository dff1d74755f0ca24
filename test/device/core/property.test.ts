/**
 * Property-based tests: whatever bytes arrive, the decoders and parsers answer with a reason code,
 * never an exception, and never an open. `npm run fuzz` runs the same properties a million times.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { makeGate, T0 } from '../../helpers/gate.js';
import { evaluate } from '../../../device/core/decide.js';
import { base45Decode, base45Encode } from '../../../device/core/base45.js';
import { parseEnvelope } from '../../../device/core/envelope.js';
import { parseListPayload } from '../../../device/core/lists.js';
import { isPassgateError } from '../../../base/errors.js';
import { codeArbitrary, decoderProperty, envelopeArbitrary, listPayloadArbitrary } from '../../../scripts/lib/fuzz-properties.js';

const RUNS = 10_000;
const gate = await makeGate();
afterAll(() => gate.close());

describe('Base45', () => {
  it('round-trips any bytes', async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(base45Decode(base45Encode(b))).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });
  it('matches the RFC 9285 examples', async () => {
    expect(base45Encode(Buffer.from('AB'))).toBe('BB8');
    expect(base45Encode(Buffer.from('Hello!!'))).toBe('%69 VD92EX0');
    expect(base45Encode(Buffer.from('base-45'))).toBe('UJCLQE7W581');
    expect(Buffer.from(base45Decode('QED8WEX0')!).toString()).toBe('ietf!');
    expect(base45Decode('GGW')).toBeNull();
  });
});

describe(`HP1 decoder under ${RUNS} random and mutated codes`, () => {
  const valid = [gate.code('CN-330000').text, gate.code('CN-110000').text, gate.code('CN-440000').text];
  it('never throws and never opens', async () => {
    const ctx = gate.verifier.context();
    fc.assert(decoderProperty(codeArbitrary(valid), (text) => evaluate({ input: 'qr', text }, ctx)), { numRuns: RUNS });
  });
});

describe(`envelope and list parsers under ${RUNS} inputs`, () => {
  it('parseEnvelope throws only PassgateError BAD_ENCODING', async () => {
    fc.assert(
      fc.property(envelopeArbitrary(gate.fed.trustEnvelope(2, T0)), (text) => {
        try {
          parseEnvelope(text);
        } catch (e) {
          expect(isPassgateError(e) && e.code).toBe('BAD_ENCODING');
        }
      }),
      { numRuns: RUNS },
    );
  });
  it('parseEnvelope quotes an unverified alg or typ in its message: at most 24 characters, no line breaks', () => {
    fc.assert(
      fc.property(fc.constantFrom('alg', 'typ'), fc.string({ unit: 'binary', minLength: 1, maxLength: 5000 }), (field, value) => {
        const header = { alg: 'ES256', kid: '0123456789abcdef', typ: 'passgate-trust+json', [field]: `x${value}` };
        const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        try {
          parseEnvelope(JSON.stringify({ protected: b64(header), payload: b64({}), signature: 'AAAA' }));
          expect.unreachable('a header that is no alg or typ of the protocol');
        } catch (e) {
          const detail = isPassgateError(e) ? e.detail : String(e);
          expect(detail).not.toMatch(/[\n\r]/);
          expect(detail.length).toBeLessThanOrEqual(24 * 6 + 20); // a 24-character quote, every character escaped
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('parseListPayload accepts only well-formed deltas and chunks, else BAD_ENCODING', async () => {
    fc.assert(
      fc.property(listPayloadArbitrary(), (payload) => {
        try {
          const r = parseListPayload(payload);
          if (r.kind === 'delta') expect(r.delta.to).toBeGreaterThan(r.delta.from);
          else expect(r.chunk.chunk).toBeLessThan(r.chunk.chunks);
        } catch (e) {
          expect(isPassgateError(e) && e.code).toBe('BAD_ENCODING');
        }
      }),
      { numRuns: RUNS },
    );
  });
});
