/**
 * Trust-bundle keys are checked at ingest (PROTOCOL §1, revision 2): keys a verifier must not use are
 * left out of the bundle as applied and reported (ingest result, status), the rest applies; at most
 * four keys share a kid within a format; SM2 tables are built by a step the caller schedules (the
 * verifier: one per event-loop turn), never when trust is compiled nor inside a decision.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { makeGate, sharedFederation, T0, type TestGate } from '../../helpers/gate.js';
import { waitFor } from '../../helpers/wait.js';
import { generateKey, issueHp1, keyEntry, signEnvelope, trustBundle, type IssuerSpec, type SigningKey } from '../../../scripts/lib/issuer.js';
import { compileTrust, parseTrustBundle, type KeyEntry, type Trust } from '../../../device/core/trust.js';
import { ed25519Problem, kidOf } from '../../../device/core/crypto/keys.js';
import { sm2TablesBuilt } from '../../../device/core/crypto/sm2.js';
import { b64uEncode } from '../../../device/core/b64u.js';
import { base45Decode, base45Encode } from '../../../device/core/base45.js';
import { evaluate } from '../../../device/core/decide.js';
import { gateStatus } from '../../../device/status.js';
import type { Federation } from '../../../scripts/lib/federation.js';

let gate: TestGate | undefined;
afterEach(async () => {
  await gate?.close();
  gate = undefined;
});

const ED_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const edSpki = (point: Uint8Array) => Buffer.concat([ED_SPKI_PREFIX, point]);
const entry = (alg: KeyEntry['alg'], spki: Uint8Array): KeyEntry => ({ kid: kidOf(spki), alg, spki: b64uEncode(spki) });

/** The eight points of small order (libsodium's blocklist, canonical encodings), then non-canonical encodings of some. */
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity (order 1)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // (0, -1), order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];
const NON_CANONICAL = [
  '0100000000000000000000000000000000000000000000000000000000000080', // identity with x's sign bit set (x = 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 ≡ 1, the identity again
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p ≡ 0
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = 2^255 - 1 ≥ p
];

function trustWith(issuers: IssuerSpec[], fed: Federation, signers: Partial<Record<'policy' | 'lists' | 'commands', SigningKey[]>> = {}) {
  return trustBundle({
    version: 2,
    issuedAt: T0 - 60,
    expiresAt: T0 + 86400,
    issuers,
    signers: { policy: [fed.policySigner], lists: [fed.listSigner], commands: [fed.commandSigner], ...signers },
    holderKey: fed.holderKey,
  });
}

function compiled(issuers: IssuerSpec[], fed: Federation): Trust {
  return compileTrust(parseTrustBundle(trustWith(issuers, fed)));
}

/** A code "signed" with R = identity, S = 0: it verifies under a small-order key for any payload. */
function forged(kid: string): string {
  const forger: SigningKey = {
    alg: 'EdDSA',
    kid,
    spki: Buffer.alloc(0),
    sign: () => Buffer.concat([Buffer.from(SMALL_ORDER[0]!, 'hex'), Buffer.alloc(32)]),
  };
  return issueHp1(forger, { iss: 'CN-999999', iat: T0 - 60, exp: T0 + 540, status: 1, kind: 'dynamic' }).text;
}

describe('defect 2: trust-bundle keys are checked at ingest (§1)', () => {
  it('defect 2: a small-order Ed25519 key is left out and reported; the forged code is UNKNOWN_KEY; the rest applies', async () => {
    gate = await makeGate();
    const fed = gate.fed;
    const bad = entry('EdDSA', edSpki(Buffer.from(SMALL_ORDER[0]!, 'hex')));
    const issuers: IssuerSpec[] = [...fed.issuers.values()].map((i) => ({ id: i.id, name: i.name, keys: [keyEntry(i.key)] }));
    issuers.push({ id: 'CN-999999', name: 'forger', keys: [bad] });
    const r = gate.ingest(signEnvelope(fed.root, 'passgate-trust+json', trustWith(issuers, fed)));
    expect(r).toMatchObject({ typ: 'passgate-trust+json', outcome: 'applied', version: 2 });
    expect(r.typ === 'passgate-trust+json' && r.skippedKeys).toEqual([{ owner: 'CN-999999', kid: bad.kid, reason: expect.stringMatching(/small-order/) }]);

    const { decision } = await gate.verifier.verify({ input: 'qr', text: forged(bad.kid) });
    expect(decision).toMatchObject({ result: 'deny', reason: 'UNKNOWN_KEY' });
    for (const id of ['CN-330000', 'CN-110000', 'CN-440000']) {
      expect((await gate.verifier.verify({ input: 'qr', text: gate.code(id).text })).decision, id).toMatchObject({ result: 'open' });
    }
    // A technician sees which key was left out and why (`passgate status`, R/status).
    const status = gateStatus(gate.store, gate.clock);
    expect(status.trust?.keysLeftOut).toEqual([expect.stringMatching(new RegExp(`^CN-999999/${bad.kid}: .*small-order`))]);
  });

  it('defect 2: the eight small-order points, non-canonical encodings and a point with a small-order component are refused', async () => {
    const fed = sharedFederation();
    for (const hex of SMALL_ORDER) expect(ed25519.Point.fromHex(hex).isSmallOrder(), hex).toBe(true);
    const good = generateKey('EdDSA').key;
    const goodPoint = good.spki.subarray(ED_SPKI_PREFIX.length);
    const mixed = ed25519.Point.fromBytes(goodPoint).add(ed25519.Point.fromHex(SMALL_ORDER[4]!)).toBytes();
    const refused = [...SMALL_ORDER, ...NON_CANONICAL].map((h) => Buffer.from(h, 'hex')).concat(Buffer.from(mixed));
    for (const point of refused) expect(ed25519Problem(point), Buffer.from(point).toString('hex')).not.toBeNull();
    expect(ed25519Problem(goodPoint)).toBeNull();

    const trust = compiled([{ id: 'CN-999999', name: 'x', keys: [...refused.map((p) => entry('EdDSA', edSpki(p))), keyEntry(good)] }], fed);
    expect(trust.skipped).toHaveLength(refused.length);
    expect([...trust.keysByKid.values()].flat().map((k) => k.kid)).toEqual([good.kid]);
  });

  it('defect 2: off-curve and infinity EC points, an SM2 point off its curve and RSA under 2048 bits are left out', async () => {
    const fed = sharedFederation();
    const offCurve = Buffer.concat([P256_SPKI_PREFIX, Buffer.from([4]), Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([2])]);
    // Node takes this as a key and then aborts the process when asked for its details.
    const infinity = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d030107030200' + '00', 'hex');
    const sm2 = generateKey('SM2SM3').key.spki;
    const sm2Off = Buffer.from(sm2);
    sm2Off[sm2Off.length - 1]! ^= 1;
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'der' });
    const good = generateKey('ES256').key;
    const bad: KeyEntry[] = [entry('ES256', offCurve), entry('ES256', infinity), entry('SM2SM3', sm2Off), entry('PS256', rsa1024), entry('ES256', p384)];
    const trust = compiled([{ id: 'CN-999999', name: 'x', keys: [...bad, keyEntry(good)] }], fed);
    expect(trust.skipped.map((k) => k.kid)).toEqual(bad.map((k) => k.kid));
    expect(trust.skipped.map((k) => k.reason)).toEqual([
      expect.stringMatching(/not a point on the curve/),
      expect.stringMatching(/point at infinity/),
      expect.stringMatching(/SM2|curve/i),
      expect.stringMatching(/2048/),
      expect.stringMatching(/P-256/),
    ]);
    expect(trust.keysByKid.get(good.kid)).toHaveLength(1);
  });

  it('defect 2: at most 4 keys per kid within one format: the rest are left out, and a bad code tries 4', async () => {
    gate = await makeGate();
    const fed = gate.fed;
    const sm2 = fed.issuer('CN-440000');
    const issuers: IssuerSpec[] = [
      { id: 'CN-440000', name: 'flood', keys: Array.from({ length: 30 }, () => keyEntry(sm2)) },
      // The same kid in another format is counted apart.
      { id: 'CN-440001', name: 'other format', formats: ['HC1'], keys: [keyEntry(sm2)] },
    ];
    const r = gate.ingest(signEnvelope(fed.root, 'passgate-trust+json', trustWith(issuers, fed, { lists: Array(6).fill(fed.listSigner) })));
    if (r.typ !== 'passgate-trust+json') throw new Error(r.typ);
    expect(r.skippedKeys).toHaveLength(26 + 2);
    expect(r.skippedKeys[0]).toEqual({ owner: 'CN-440000', kid: sm2.kid, reason: 'more than 4 keys with this kid for HP1' });
    expect(r.skippedKeys.at(-1)).toEqual({ owner: 'signers.lists', kid: fed.listSigner.kid, reason: 'more than 4 keys with this kid for signers.lists' });
    const trust = gate.verifier.context().trust!;
    expect(trust.keysByKid.get(sm2.kid)).toHaveLength(5);
    expect(trust.signers.lists).toHaveLength(4);

    const bytes = base45Decode(gate.code('CN-440000').text.slice(4))!;
    bytes[bytes.length - 1]! ^= 1;
    const out = evaluate({ input: 'qr', text: `HP1:${base45Encode(bytes)}` }, gate.verifier.context());
    expect(out.kind === 'decided' && out.decision).toMatchObject({ reason: 'BAD_SIGNATURE', detail: 'signature does not verify with 4 key(s)' });
  });

  it('defect 8: a bundle issuer id of 128 characters applies; 129 is refused', async () => {
    gate = await makeGate();
    const fed = gate.fed;
    const long = 'M'.repeat(128);
    const issuers = (id: string): IssuerSpec[] => [{ id, name: 'ministry', formats: ['HC1'], keys: [] }, { id: 'CN-330000', name: 'x', keys: [keyEntry(fed.issuer('CN-330000'))] }];
    expect(gate.ingest(signEnvelope(fed.root, 'passgate-trust+json', trustWith(issuers(long), fed)))).toMatchObject({ outcome: 'applied', version: 2 });
    const tooLong = { ...trustWith(issuers(`${long}M`), fed), version: 3 };
    expect(() => gate!.ingest(signEnvelope(fed.root, 'passgate-trust+json', tooLong))).toThrow(/issuers\/0\/id/);
  });
});

describe('defect 16: SM2 tables are built by a scheduled step, never inside a decision', () => {
  const sm2Trust = (fed: Federation, n: number) => {
    const keys = Array.from({ length: n }, () => generateKey('SM2SM3').key);
    const issuers: IssuerSpec[] = keys.map((key, i) => ({ id: `CN-44000${i}`, name: 'x', keys: [keyEntry(key)] }));
    return { keys, envelope: signEnvelope(fed.root, 'passgate-trust+json', trustWith(issuers, fed)) };
  };
  const decideAll = (keys: SigningKey[], times: number) => {
    for (let i = 0; i < times; i++) {
      const { text } = issueHp1(keys[i % keys.length]!, { iss: `CN-44000${i % keys.length}`, iat: T0 - 60, exp: T0 + 540, status: 1, kind: 'dynamic' });
      const out = evaluate({ input: 'qr', text }, { ...gate!.verifier.context(), passback: { lastOpenedMs: () => undefined } });
      expect(out.kind === 'decided' && out.decision.result).toBe('open');
    }
  };

  it('defect 16: compiling trust builds no table; decisions before and after the pending builds build none', async () => {
    gate = await makeGate();
    const { keys, envelope } = sm2Trust(gate.fed, 3);
    const before = sm2TablesBuilt();
    gate.ingest(envelope);
    expect(sm2TablesBuilt()).toBe(before);
    const trust = gate.verifier.context().trust!;
    decideAll(keys, 12); // the textbook path, before any table
    expect(sm2TablesBuilt()).toBe(before);
    const pending = trust.pendingTables();
    expect(pending.length).toBeGreaterThanOrEqual(3); // G's too, unless an earlier test built it
    for (const build of pending) build();
    expect(sm2TablesBuilt() - before).toBe(pending.length);
    expect(trust.pendingTables()).toEqual([]);
    decideAll(keys, 40); // the table path
    expect(sm2TablesBuilt()).toBe(before + pending.length);
  });

  it('defect 16: after a reload the verifier builds the pending tables in the background, one per turn', async () => {
    gate = await makeGate();
    const { keys, envelope } = sm2Trust(gate.fed, 3);
    gate.ingest(envelope); // the test gate reloads its verifier
    const trust = gate.verifier.context().trust!;
    expect(trust.version).toBe(2);
    expect(trust.pendingTables().length).toBeGreaterThanOrEqual(3);
    await new Promise((resolve) => setImmediate(resolve));
    // One build per turn: the three new keys are not all built at once (other gates' builds in this
    // process touch other keys).
    expect(trust.pendingTables().length).toBeGreaterThanOrEqual(2);
    await waitFor(() => trust.pendingTables().length === 0, { what: 'SM2 tables built in the background', timeoutMs: 10_000 });
    const built = sm2TablesBuilt();
    decideAll(keys, 12);
    expect(sm2TablesBuilt()).toBe(built);
  });
});
