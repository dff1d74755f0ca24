/**
 * HC1 with DCCs built here: a P-256 and an RSA-2048 key, each in a minimal self-signed X.509 DSC
 * (scripts/lib/dcc.ts writes the DER), then codes signed with ES256 / PS256 — with the header,
 * tag and payload variations below — and run through `evaluate()` like any scanned code.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { encode as cborEncode } from 'cborg';
import { evaluate } from '../../../device/core/decide.js';
import { decodeHc1, dccHandle, verifyHc1, HC1_MAX_CHARS, HC1_MAX_INFLATED_BYTES } from '../../../device/core/hc1.js';
import { compileTrust, parseTrustBundle, type KeyEntry, type Trust } from '../../../device/core/trust.js';
import { DEFAULT_POLICY } from '../../../device/core/policy.js';
import { base45Decode, base45Encode } from '../../../device/core/base45.js';
import { kidOf } from '../../../device/core/crypto/keys.js';
import { b64uEncode } from '../../../device/core/b64u.js';
import type { Decision, Format, Policy, Reason } from '../../../device/core/types.js';
import { coseSignature, selfSignedDsc } from '../../../scripts/lib/dcc.js';

/** Extended key usages a DSC may carry. */
const OID = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  dccTest: '1.3.6.1.4.1.1847.2021.1.1',
  dccVaccination: '1.3.6.1.4.1.1847.2021.1.2',
  dccRecovery: '1.3.6.1.4.1.1847.2021.1.3',
  dccVaccinationAlt: '1.3.6.1.4.1.0.1847.2021.1.2',
};

// ---------------------------------------------------------------- DCC writer

const T = 1_800_000_000; // the test clock, seconds
const UCI = 'URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B';

interface Signer {
  pair: { publicKey: KeyObject; privateKey: KeyObject };
  dsc: Buffer;
  kid: Buffer;
  alg: -7 | -37;
}

function signer(kind: 'ec' | 'rsa', eku: string[] = [], serial = 1): Signer {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dsc = selfSignedDsc(pair, { eku, serial });
  return { pair, dsc, kid: Buffer.from(kidOf(dsc), 'hex'), alg: kind === 'ec' ? -7 : -37 };
}

interface DccOptions {
  iss?: string | null;
  iat?: number;
  exp?: number;
  type?: 'v' | 't' | 'r';
  /** Where alg and kid go: protected (default), unprotected, or a wrong kid protected and the right one unprotected. */
  header?: 'protected' | 'unprotected' | 'wrong-protected';
  /** Tags around the COSE_Sign1: 18 (default), none, or CWT 61 around 18. */
  tags?: '18' | 'none' | '61+18';
  compress?: boolean;
  /** Sign with this key but name another signer's kid. */
  kidOf?: Signer;
  /** A `crit` header (label 2) with these labels, in the protected header or the unprotected one. */
  crit?: { labels: unknown[]; where: 'protected' | 'unprotected' };
  /** Certificate groups written as `null` beside the real one (older payloads: `"t": null`). */
  nullGroups?: ('v' | 't' | 'r')[];
  /** A second, real group beside the first. */
  secondGroup?: 'v' | 't' | 'r';
}

function payloadOf(o: DccOptions): Uint8Array {
  const entry = new Map<string, unknown>([
    ['tg', '840539006'],
    ['co', 'AT'],
    ['is', 'Ministry of Health, Austria'],
    ['ci', UCI],
  ]);
  const dcc = new Map<string, unknown>([
    ['ver', '1.3.0'],
    ['nam', new Map([['fn', 'Musterfrau-Gößinger'], ['fnt', 'MUSTERFRAU<GOESSINGER'], ['gn', 'Gabriele'], ['gnt', 'GABRIELE']])],
    ['dob', '1998-02-26'],
    [o.type ?? 'v', [entry]],
  ]);
  for (const g of o.nullGroups ?? []) dcc.set(g, null);
  if (o.secondGroup) dcc.set(o.secondGroup, [entry]);
  const claims = new Map<number, unknown>([
    [4, o.exp ?? T + 86400],
    [6, o.iat ?? T - 3600],
    [-260, new Map([[1, dcc]])],
  ]);
  if (o.iss !== null) claims.set(1, o.iss ?? 'AT');
  return cborEncode(claims);
}

function makeDcc(s: Signer, o: DccOptions = {}, payload = payloadOf(o)): string {
  const kid = (o.kidOf ?? s).kid;
  const header = o.header ?? 'protected';
  const protectedMap = new Map<number, unknown>();
  const unprotected = new Map<number, unknown>();
  if (header === 'protected') {
    protectedMap.set(1, s.alg).set(4, kid);
  } else if (header === 'unprotected') {
    unprotected.set(1, s.alg).set(4, kid);
  } else {
    protectedMap.set(1, s.alg).set(4, Buffer.from('0000000000000000', 'hex'));
    unprotected.set(4, kid);
  }
  if (o.crit) (o.crit.where === 'protected' ? protectedMap : unprotected).set(2, o.crit.labels);
  const protectedBytes = protectedMap.size ? cborEncode(protectedMap) : new Uint8Array(0);
  const signature = coseSignature(s.alg, s.pair.privateKey, protectedBytes, payload);
  const body = cborEncode([protectedBytes, unprotected, payload, signature]);
  const prefix = { '18': [0xd2], none: [], '61+18': [0xd8, 0x3d, 0xd2] }[o.tags ?? '18'];
  const cose = Buffer.concat([Uint8Array.from(prefix), body]);
  return `HC1:${base45Encode(o.compress === false ? cose : deflateSync(cose, { level: 9 }))}`;
}

// ---------------------------------------------------------------- gate

function trustOf(entries: { id?: string; formats?: Format[]; s: Signer }[]): Trust {
  type Issuer = { id: string; name: string; formats: Format[]; keys: KeyEntry[] };
  const issuers = new Map<string, Issuer>();
  for (const { id = 'AT', formats, s } of entries) {
    const issuer: Issuer = issuers.get(id) ?? { id, name: id, formats: formats ?? ['HC1'], keys: [] };
    issuer.keys.push({ kid: kidOf(s.dsc), x5c: b64uEncode(s.dsc) });
    issuers.set(id, issuer);
  }
  return compileTrust(
    parseTrustBundle({
      version: 1,
      issuedAt: T - 86400,
      expiresAt: T + 10 * 86400,
      issuers: [...issuers.values()],
      signers: { policy: [], lists: [], commands: [] },
      holderKey: b64uEncode(new Uint8Array(32)),
    }),
  );
}

function decide(text: string, trust: Trust | null, nowS = T, policy: Policy = DEFAULT_POLICY): Decision {
  const nowMs = nowS * 1000;
  const outcome = evaluate(
    { input: 'qr', text },
    {
      clock: { nowMs: () => nowMs, monoMs: () => 0, trusted: () => true },
      trust,
      policy,
      lists: { entry: () => undefined, meta: () => ({ version: 1, updatedAtMs: nowMs }) },
      passback: { lastOpenedMs: () => undefined },
    },
  );
  if (outcome.kind !== 'decided') throw new Error('no look-up for codes');
  return outcome.decision;
}

const ec = signer('ec');
const rsa = signer('rsa');
const ecTrust = trustOf([{ s: ec }]);

describe('HC1 verification', () => {
  it('the hand-written DSCs parse, and their kid is the first 8 bytes of SHA-256 over the DER', () => {
    const cert = new X509Certificate(signer('ec', [OID.dccTest, OID.clientAuth]).dsc);
    expect(cert.keyUsage).toEqual([OID.dccTest, OID.clientAuth]);
    expect(kidOf(ec.dsc)).toBe(createHash('sha256').update(ec.dsc).digest().subarray(0, 8).toString('hex'));
  });

  it('opens a valid ES256 DCC: format HC1, the key issuer, no status, a masked name, the DCC handle', () => {
    const d = decide(makeDcc(ec), ecTrust);
    expect(d).toMatchObject({ result: 'open', reason: 'OK', format: 'HC1', issuer: 'AT', status: null, kid: kidOf(ec.dsc), displayName: 'M***' });
    expect(d.displayName).not.toMatch(/Musterfrau|Gabriele|MUSTERFRAU|GABRIELE/);
  });

  it('opens a valid PS256 DCC signed with an RSA-2048 DSC', () => {
    expect(decide(makeDcc(rsa), trustOf([{ s: rsa }]))).toMatchObject({ result: 'open', reason: 'OK', kid: kidOf(rsa.dsc) });
  });

  it('the handle is hex(H16(UTF-8(country) ‖ UTF-8(UCI))), the COUNTRYCODEUCI revocation hash', () => {
    const expected = createHash('sha256').update(Buffer.from(`AT${UCI}`, 'utf8')).digest().subarray(0, 16).toString('hex');
    expect(decide(makeDcc(ec), ecTrust).handle).toBe(expected);
    expect(dccHandle('AT', UCI)).toBe(expected);
    // Without iss, the key's issuer id (the country the DSC is published under) stands in.
    expect(decide(makeDcc(ec, { iss: null }), ecTrust)).toMatchObject({ reason: 'OK', handle: expected });
  });

  it('is valid up to and including the second of exp (§3), then EXPIRED', () => {
    const text = makeDcc(ec, { exp: T + 100 });
    expect(decide(text, ecTrust, T + 99).reason).toBe('OK');
    expect(decide(text, ecTrust, T + 100).reason).toBe('OK');
    expect(decide(text, ecTrust, T + 101)).toMatchObject({ result: 'deny', reason: 'EXPIRED' });
  });

  it('NOT_YET_VALID only when iat is beyond now + maxClockSkewSeconds', () => {
    const skew = DEFAULT_POLICY.maxClockSkewSeconds;
    expect(decide(makeDcc(ec, { iat: T + skew }), ecTrust).reason).toBe('OK');
    expect(decide(makeDcc(ec, { iat: T + skew + 1 }), ecTrust).reason).toBe('NOT_YET_VALID');
  });

  it('accepts the COSE_Sign1 untagged, tagged 18, and inside a CWT tag 61', () => {
    for (const tags of ['none', '18', '61+18'] as const) expect(decide(makeDcc(ec, { tags }), ecTrust).reason, tags).toBe('OK');
  });

  it('reads alg and kid from the unprotected header when the protected one has none; the protected kid wins', () => {
    expect(decide(makeDcc(ec, { header: 'unprotected' }), ecTrust).reason).toBe('OK');
    const wrong = decide(makeDcc(ec, { header: 'wrong-protected' }), ecTrust);
    expect(wrong).toMatchObject({ result: 'deny', reason: 'UNKNOWN_KEY', kid: '0000000000000000' });
  });

  it('tries every key with the kid until one verifies', () => {
    const other = signer('ec');
    const trust = trustOf([{ s: other }, { s: ec }]);
    // Signed by `other` but naming ec's kid: the only key with that kid does not verify.
    expect(decide(makeDcc(other, { kidOf: ec }), trust).reason).toBe('BAD_SIGNATURE');
    // A second key under ec's kid, listed first (kids are 8 bytes: collisions are possible, §3).
    const impostor = { ...trust.keysByKid.get(kidOf(other.dsc))![0]!, kid: kidOf(ec.dsc) };
    const keysByKid = new Map(trust.keysByKid).set(kidOf(ec.dsc), [impostor, ...trust.keysByKid.get(kidOf(ec.dsc))!]);
    expect(decide(makeDcc(ec), { ...trust, keysByKid }).reason).toBe('OK');
  });

  it('UNKNOWN_KEY for a key of another format, another algorithm, or not in the bundle', () => {
    expect(decide(makeDcc(ec), trustOf([{ s: ec, formats: ['HP1'] }])).reason).toBe('UNKNOWN_KEY');
    expect(decide(makeDcc(ec), trustOf([{ s: rsa }])).reason).toBe('UNKNOWN_KEY');
    // An RSA DSC can only be PS256; a code claiming ES256 under its kid finds no key.
    expect(decide(makeDcc({ ...ec, kid: rsa.kid }), trustOf([{ s: rsa }])).reason).toBe('UNKNOWN_KEY');
    expect(decide(makeDcc(ec), null).reason).toBe('UNKNOWN_KEY');
  });

  it('KEY_NOT_VALID when the DSC lists DCC usages that do not include the certificate type', () => {
    const testOnly = signer('ec', [OID.dccTest]);
    const trust = trustOf([{ s: testOnly }]);
    expect(decide(makeDcc(testOnly, { type: 'v' }), trust)).toMatchObject({ result: 'deny', reason: 'KEY_NOT_VALID' });
    expect(decide(makeDcc(testOnly, { type: 'r' }), trust).reason).toBe('KEY_NOT_VALID');
    expect(decide(makeDcc(testOnly, { type: 't' }), trust).reason).toBe('OK');
    // The `.0.` variant of the OIDs counts like the HCERT one.
    const alt = signer('ec', [OID.dccVaccinationAlt]);
    expect(decide(makeDcc(alt, { type: 'v' }), trustOf([{ s: alt }])).reason).toBe('OK');
    expect(decide(makeDcc(alt, { type: 't' }), trustOf([{ s: alt }])).reason).toBe('KEY_NOT_VALID');
    // Usages that are not DCC OIDs restrict nothing.
    const tls = signer('ec', [OID.clientAuth]);
    expect(decide(makeDcc(tls, { type: 'r' }), trustOf([{ s: tls }])).reason).toBe('OK');
  });

  it('defect 8: the CWT iss is informational: another country or a ministry named in full opens, as the DSC owner\'s', () => {
    const ministry = 'Bundesministerium für Soziales, Gesundheit, Pflege und Konsumentenschutz';
    expect(ministry.length).toBeGreaterThan(32);
    for (const iss of ['DE', ministry]) {
      expect(decide(makeDcc(ec, { iss }), ecTrust), iss).toMatchObject({ result: 'open', reason: 'OK', issuer: 'AT' });
    }
    // Still a claim of the signed payload: not a text string is malformed.
    const numericIss = cborEncode(new Map<number, unknown>([[1, 40], [4, T + 10], [6, T - 10], [-260, new Map([[1, new Map()]])]]));
    expect(decide(makeDcc(ec, {}, numericIss), ecTrust)).toMatchObject({ reason: 'BAD_ENCODING', detail: 'iss must be a text string' });
  });

  it('defect 8: a trust bundle with an issuer id over 32 characters applies whole; the id is the DCC\'s issuer', () => {
    const id = 'Bundesministerium für Soziales, Gesundheit, Pflege und Konsumentenschutz';
    const trust = trustOf([{ id, s: ec }, { id: 'DE', s: rsa }]);
    expect(decide(makeDcc(ec, { iss: 'AT' }), trust)).toMatchObject({ result: 'open', reason: 'OK', issuer: id });
    expect(decide(makeDcc(rsa), trust)).toMatchObject({ result: 'open', issuer: 'DE' });
    expect(() => trustOf([{ id: 'x'.repeat(129), s: ec }])).toThrow(/issuers\/0\/id/);
  });

  it('defect 8: a null certificate group counts as absent ("t": null beside a real v opens)', () => {
    expect(decide(makeDcc(ec, { nullGroups: ['t'] }), ecTrust)).toMatchObject({ result: 'open', reason: 'OK' });
    expect(decide(makeDcc(ec, { nullGroups: ['t', 'r'] }), ecTrust).reason).toBe('OK');
    expect(decide(makeDcc(ec, { type: 't', nullGroups: ['v'] }), ecTrust).reason).toBe('OK');
    // Two real groups, or only null ones, are still not a DCC.
    expect(decide(makeDcc(ec, { secondGroup: 't' }), ecTrust)).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
    const onlyNull = cborEncode(
      new Map<number, unknown>([[1, 'AT'], [4, T + 10], [6, T - 10], [-260, new Map([[1, new Map<string, unknown>([['ver', '1.3.0'], ['v', null]])]])]]),
    );
    expect(decide(makeDcc(ec, {}, onlyNull), ecTrust)).toMatchObject({ reason: 'BAD_ENCODING' });
  });

  it('defect 6: a crit header (unknown label, a known one, or empty; protected or not) is refused BAD_ENCODING', () => {
    for (const labels of [[99], [1], [], ['x-custom']]) {
      for (const where of ['protected', 'unprotected'] as const) {
        const d = decide(makeDcc(ec, { crit: { labels, where } }), ecTrust);
        expect(d, `${JSON.stringify(labels)} ${where}`).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
      }
    }
  });

  it('follows policy: acceptIssuers scope, a dcc action, HC1 not accepted', () => {
    expect(decide(makeDcc(ec), ecTrust, T, { ...DEFAULT_POLICY, acceptIssuers: ['DE'] }).reason).toBe('ISSUER_NOT_ACCEPTED');
    expect(decide(makeDcc(ec), ecTrust, T, { ...DEFAULT_POLICY, dcc: 'staff' })).toMatchObject({ result: 'staff' });
    expect(decide(makeDcc(ec), ecTrust, T, { ...DEFAULT_POLICY, acceptFormats: ['HP1'] }).reason).toBe('UNSUPPORTED_FORMAT');
  });

  it('BAD_ENCODING for an uncompressed COSE, an inflate bomb, an over-long text, bad Base45 and bad claims', () => {
    const uncompressed = makeDcc(ec, { compress: false });
    expect(decide(uncompressed, ecTrust).reason).toBe('BAD_ENCODING');
    expect(decodeHc1(uncompressed)).toMatchObject({ ok: false, stage: 'inflate' });

    // 1 MiB of zeros deflates to about 1 KiB: a short code that would inflate far beyond the limit.
    const bomb = `HC1:${base45Encode(deflateSync(Buffer.alloc(1 << 20), { level: 9 }))}`;
    expect(bomb.length).toBeLessThan(HC1_MAX_CHARS);
    expect(decide(bomb, ecTrust)).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
    expect(decodeHc1(bomb)).toMatchObject({ ok: false, stage: 'inflate', detail: `inflates to more than ${HC1_MAX_INFLATED_BYTES} bytes` });

    expect(decodeHc1(`HC1:${'0'.repeat(HC1_MAX_CHARS)}`)).toMatchObject({ ok: false, stage: 'length' });
    expect(decodeHc1('HC1:!!!')).toMatchObject({ ok: false, stage: 'base45' });

    const noHcert = cborEncode(new Map<number, unknown>([[1, 'AT'], [4, T + 10], [6, T - 10]]));
    expect(decide(makeDcc(ec, {}, noHcert), ecTrust)).toMatchObject({ reason: 'BAD_ENCODING', detail: 'hcert claim (-260) missing' });
  });

  it('verifyHc1 reports the kid it looked for', () => {
    expect(verifyHc1(makeDcc(ec), trustOf([{ s: rsa }]))).toMatchObject({ ok: false, reason: 'UNKNOWN_KEY', kid: kidOf(ec.dsc) });
  });
});

// ---------------------------------------------------------------- never throws, always a clean deny

const FUZZ_REASONS: readonly Reason[] = ['UNSUPPORTED_FORMAT', 'BAD_ENCODING', 'UNKNOWN_KEY', 'BAD_SIGNATURE'];
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
const valid = makeDcc(ec);
const validCose = inflateSync(base45Decode(valid.slice(4))!);

/** True when the text still decodes to the very COSE bytes of `valid` (a mutation with no effect). */
function sameCose(text: string): boolean {
  if (!text.startsWith('HC1:')) return false;
  const b = base45Decode(text.slice(4));
  if (!b) return false;
  try {
    return inflateSync(b).equals(validCose);
  } catch {
    return false;
  }
}

const seen = new Map<Reason, number>();
function cleanDeny(text: string): void {
  const d = decide(text, ecTrust);
  expect(d.result).toBe('deny');
  expect(FUZZ_REASONS).toContain(d.reason);
  seen.set(d.reason, (seen.get(d.reason) ?? 0) + 1);
}

const cbor = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(fc.oneof(fc.integer({ min: -300, max: 10 }), fc.string({ maxLength: 4 })), tie('value')), { maxLength: 5 }).map((kv) => new Map(kv)),
  ),
})).value;

const zipped = (bytes: Uint8Array) => `HC1:${base45Encode(deflateSync(bytes))}`;

describe('HC1 robustness (fast-check)', () => {
  it('mutated valid codes never throw and are denied UNSUPPORTED_FORMAT/BAD_ENCODING/UNKNOWN_KEY/BAD_SIGNATURE', () => {
    const mutation = fc.oneof(
      fc.tuple(fc.nat(), fc.constantFrom(...ALPHABET.split(''))).map(([i, c]) => (t: string) => {
        const p = i % t.length;
        return t.slice(0, p) + c + t.slice(p + 1);
      }),
      fc.nat().map((i) => (t: string) => t.slice(0, i % t.length)),
      fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 3 })).map(([i, s]) => (t: string) => {
        const p = i % t.length;
        return t.slice(0, p) + s + t.slice(p);
      }),
      fc.nat().map((i) => (t: string) => {
        const p = i % t.length;
        return t.slice(0, p) + t.slice(p + 1);
      }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const text = ms.reduce((t, m) => (t.length ? m(t) : t), valid);
        fc.pre(text.length > 0 && !sameCose(text));
        cleanDeny(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('random texts, random zlib payloads and random COSE structures are cleanly denied', () => {
    const structured = fc
      .record({
        alg: fc.oneof({ arbitrary: fc.constant(-7), weight: 4 }, fc.constantFrom(-37, -8), fc.integer()),
        kid: fc.oneof({ arbitrary: fc.constant(ec.kid), weight: 4 }, fc.uint8Array({ minLength: 1, maxLength: 12 })),
        unprotected: cbor,
        // Mostly maps, so that many get as far as the signature check.
        payload: fc.oneof({ arbitrary: fc.dictionary(fc.string({ maxLength: 3 }), cbor, { maxKeys: 6 }).map((o) => new Map(Object.entries(o))), weight: 4 }, cbor),
        signature: fc.uint8Array({ maxLength: 96 }),
        tag: fc.constantFrom([], [0xd2], [0xd8, 0x3d, 0xd2], [0xd8, 0x3d]),
      })
      .map((r) => {
        const body = cborEncode([cborEncode(new Map<number, unknown>([[1, r.alg], [4, r.kid]])), r.unprotected instanceof Map ? r.unprotected : new Map(), cborEncode(r.payload), r.signature]);
        return zipped(Buffer.concat([Uint8Array.from(r.tag), body]));
      });
    const texts = fc.oneof(
      fc.string({ minLength: 1, maxLength: 200 }),
      fc.string({ unit: fc.constantFrom(...ALPHABET.split('')), maxLength: 300 }).map((s) => `HC1:${s}`),
      fc.uint8Array({ maxLength: 400 }).map(zipped),
      cbor.map((v) => zipped(cborEncode(v))),
      structured,
    );
    fc.assert(fc.property(texts, cleanDeny), { numRuns: 1500 });
  });

  it('reached every one of those reasons over at least 2,000 runs', () => {
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2000);
    for (const r of FUZZ_REASONS) expect(seen.get(r) ?? 0, r).toBeGreaterThan(0);
  });
});
