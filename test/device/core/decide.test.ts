import { describe, it, expect, afterEach } from 'vitest';
import { makeGate, sharedFederation, T0, type TestGate } from '../../helpers/gate.js';
import { Verifier } from '../../../device/verifier.js';
import { ModeOverrides } from '../../../device/modes.js';
import { FixedClock } from '../../../device/clock.js';
import { signEnvelope, holderHandleOf, issueHp1, generateKey } from '../../../scripts/lib/issuer.js';
import { base45Decode, base45Encode } from '../../../device/core/base45.js';
import type { LookupAnswer } from '../../../device/core/ports.js';
import type { Presented, Reason } from '../../../device/core/types.js';
import { encode as cborEncode, Tagged } from 'cborg';
import { sigStructure } from '../../../device/core/cose.js';
import { checkDigit } from '../../../device/core/idcard.js';
import type { SigningKey } from '../../../scripts/lib/issuer.js';

/** An HP1 code with a protected header of our choosing (issueHp1 writes only alg and kid). */
function hp1With(key: SigningKey, header: Map<number, unknown>, unprotected = new Map<number, unknown>()): string {
  const hp = new Map<number, unknown>([[1, 1], [2, T0 - 60], [3, 1]]);
  const claims = new Map<number, unknown>([[1, 'CN-330000'], [6, T0 - 60], [4, T0 + 540], [7, Buffer.alloc(12, 7)], [-70000, hp]]);
  const protectedBytes = cborEncode(header);
  const payload = cborEncode(claims);
  const signature = key.sign(sigStructure(protectedBytes, payload));
  return `HP1:${base45Encode(cborEncode(new Tagged(18, [protectedBytes, unprotected, payload, signature])))}`;
}

/** A resident ID number with this birth date (YYYYMMDD) and the right check digit. */
function idBorn(yyyymmdd: string): string {
  const first17 = `110105${yyyymmdd}002`;
  return first17 + checkDigit(first17);
}

const ID = '11010519491231002X';
let gate: TestGate;
afterEach(() => gate?.close());

/** Every reason any test here produced: the last test checks that §8 is covered. */
const produced = new Set<Reason>();

async function decide(g: TestGate | Verifier, presented: Presented | string) {
  const p: Presented = typeof presented === 'string' ? { input: 'qr', text: presented } : presented;
  const { decision } = await ('verifier' in g ? g.verifier : g).present(p);
  produced.add(decision.reason);
  return decision;
}

function delta(g: TestGate, list: 'tokens' | 'holders', put: [string, 0 | 1 | 2 | 3, number, number][]) {
  const from = g.store.meta(list).version;
  g.ingest(signEnvelope(g.fed.listSigner, 'passgate-list+json', { list, from, to: from + 1, put, del: [] }));
}

/** Re-encodes a code after changing its COSE bytes. */
function mutate(text: string, f: (b: Uint8Array) => void): string {
  const bytes = base45Decode(text.slice(4))!;
  f(bytes);
  return `HP1:${base45Encode(bytes)}`;
}

describe('HP1 decisions, one per §8 reason, in §8 order', () => {
  it.each(['CN-330000', 'CN-110000', 'CN-440000'])('opens for a valid green dynamic code of %s (ES256, EdDSA, SM2SM3)', async (issuer) => {
    gate = makeGate();
    const { text, handle } = gate.code(issuer);
    const d = await decide(gate, text);
    expect(d).toMatchObject({ result: 'open', reason: 'OK', format: 'HP1', issuer, status: 1, handle });
  });

  it('UNREADABLE for what the scanner could not read, and for an empty line', async () => {
    gate = makeGate();
    expect(await decide(gate, { input: 'qr', unreadable: 'line over 4096 bytes' })).toMatchObject({ result: 'deny', reason: 'UNREADABLE' });
    expect(await decide(gate, '')).toMatchObject({ reason: 'UNREADABLE' });
  });

  it('UNSUPPORTED_FORMAT for an unknown prefix and for a format policy does not accept', async () => {
    gate = makeGate({ policy: { acceptFormats: ['IDCARD'] } });
    expect(await decide(gate, 'https://example.com/x')).toMatchObject({ result: 'deny', reason: 'UNSUPPORTED_FORMAT', format: null });
    expect(await decide(gate, gate.code('CN-330000').text)).toMatchObject({ reason: 'UNSUPPORTED_FORMAT', format: 'HP1' });
  });

  it('BAD_ENCODING for bad Base45, bad CBOR, over-long codes and malformed claims', async () => {
    gate = makeGate();
    const good = gate.code('CN-330000').text;
    for (const text of ['HP1:!!!', 'HP1:A', `HP1:${base45Encode(Uint8Array.of(0xff, 0x00))}`, `HP1:${'0'.repeat(1100)}`, mutate(good, (b) => (b[0] = 0x85))]) {
      expect(await decide(gate, text), text.slice(0, 30)).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
    }
    // Signed, but the claims break §2: exp before iat, a dynamic code living two days.
    const key = gate.fed.issuer('CN-330000');
    for (const claims of [{ exp: T0 - 120 }, { exp: T0 + 2 * 86400 }]) {
      const { text } = issueHp1(key, { iss: 'CN-330000', iat: T0 - 60, status: 1, kind: 'dynamic', ...claims });
      expect(await decide(gate, text)).toMatchObject({ reason: 'BAD_ENCODING' });
    }
  });

  it('UNKNOWN_KEY for a key outside the trust bundle, BAD_SIGNATURE for a tampered signature', async () => {
    gate = makeGate();
    const stranger = generateKey('ES256').key;
    const { text } = issueHp1(stranger, { iss: 'CN-330000', iat: T0, exp: T0 + 60, status: 1, kind: 'dynamic' });
    expect(await decide(gate, text)).toMatchObject({ result: 'deny', reason: 'UNKNOWN_KEY', kid: stranger.kid });
    for (const issuer of ['CN-330000', 'CN-110000', 'CN-440000']) {
      const tampered = mutate(gate.code(issuer).text, (b) => (b[b.length - 1]! ^= 1));
      expect(await decide(gate, tampered)).toMatchObject({ result: 'deny', reason: 'BAD_SIGNATURE' });
    }
  });

  it('KEY_NOT_VALID when the code outlives its key or predates it', async () => {
    const fed = sharedFederation();
    // A bundle whose ES256 key is valid only for the first day after T0.
    const bundle = JSON.parse(Buffer.from(JSON.parse(fed.trustEnvelope(1, T0)).payload, 'base64url').toString());
    for (const issuer of bundle.issuers) for (const k of issuer.keys) Object.assign(k, { notBefore: T0 - 100, notAfter: T0 + 86400 });
    gate = makeGate();
    gate.ingest(signEnvelope(fed.root, 'passgate-trust+json', { ...bundle, version: 2 }));
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 + 50, exp: T0 + 86400 + 10 }).text)).toMatchObject({ result: 'deny', reason: 'KEY_NOT_VALID' });
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 - 200, exp: T0 + 100 }).text)).toMatchObject({ result: 'deny', reason: 'KEY_NOT_VALID' });
  });

  it('ISSUER_MISMATCH when iss is not the owner of the key; ISSUER_NOT_ACCEPTED outside acceptIssuers', async () => {
    gate = makeGate({ policy: { acceptIssuers: ['CN-330000', 'CN-440000'] } });
    const { text } = issueHp1(gate.fed.issuer('CN-330000'), { iss: 'CN-440000', iat: T0, exp: T0 + 60, status: 1, kind: 'dynamic' });
    expect(await decide(gate, text)).toMatchObject({ result: 'deny', reason: 'ISSUER_MISMATCH', issuer: 'CN-330000' });
    expect(await decide(gate, gate.code('CN-110000').text)).toMatchObject({ result: 'deny', reason: 'ISSUER_NOT_ACCEPTED' });
    expect(await decide(gate, gate.code('CN-440000').text)).toMatchObject({ result: 'open' });
  });

  it('NOT_YET_VALID beyond the skew, EXPIRED at exp (HP1 exp is exclusive)', async () => {
    gate = makeGate();
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 + 299, exp: T0 + 900 }).text)).toMatchObject({ result: 'open' });
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 + 301, exp: T0 + 900 }).text)).toMatchObject({ result: 'deny', reason: 'NOT_YET_VALID' });
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 - 600, exp: T0 }).text)).toMatchObject({ result: 'deny', reason: 'EXPIRED' });
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 - 600, exp: T0 + 1 }).text)).toMatchObject({ result: 'open' });
  });

  it('REVOKED by a tokens entry, unless the entry is older than the code status', async () => {
    gate = makeGate();
    const revoked = gate.code('CN-330000');
    const newer = gate.code('CN-330000', { sat: T0 - 10 });
    delta(gate, 'tokens', [
      [revoked.handle, 0, T0 - 30, T0 + 86400],
      [newer.handle, 0, T0 - 30, T0 + 86400],
    ]);
    expect(await decide(gate, revoked.text)).toMatchObject({ result: 'deny', reason: 'REVOKED' });
    expect(await decide(gate, newer.text)).toMatchObject({ result: 'open', reason: 'OK' });
  });

  it('CLOCK_UNTRUSTED follows policy.clockUntrusted, before any time check', async () => {
    gate = makeGate({ policy: { clockUntrusted: 'deny' } });
    // A clock stuck in 1970 (no RTC, no sync yet): time checks cannot apply, the clock itself is the reason.
    const verifier = new Verifier(gate.store, new FixedClock(0, false));
    expect(await decide(verifier, gate.code('CN-330000').text)).toMatchObject({ result: 'deny', reason: 'CLOCK_UNTRUSTED' });
  });

  it('TRUST_STALE after the bundle expires; LIST_STALE for a paper code without a fresh tokens list', async () => {
    gate = makeGate();
    const paper = gate.code('CN-330000', { kind: 'paper', iat: T0 - 86400, exp: T0 + 90 * 86400 });
    expect(await decide(gate, paper.text)).toMatchObject({ result: 'staff', reason: 'LIST_STALE' });
    gate.freshLists();
    expect(await decide(gate, paper.text)).toMatchObject({ result: 'open', reason: 'OK' });
    gate.clock.epochMs = (T0 + 8 * 86400) * 1000;
    expect(await decide(gate, gate.code('CN-330000', { iat: T0 + 8 * 86400, exp: T0 + 8 * 86400 + 60 }).text)).toMatchObject({
      result: 'staff',
      reason: 'TRUST_STALE',
    });
  });

  it('a paper code takes its status from a newer tokens entry', async () => {
    gate = makeGate();
    const paper = gate.code('CN-330000', { kind: 'paper', iat: T0 - 86400, exp: T0 + 90 * 86400, status: 1 });
    delta(gate, 'tokens', [[paper.handle, 3, T0 - 10, T0 + 86400]]);
    delta(gate, 'holders', []);
    expect(await decide(gate, paper.text)).toMatchObject({ result: 'deny', reason: 'STATUS_RED', status: 3 });
  });

  it('STATUS_YELLOW → staff and STATUS_RED → deny by default policy', async () => {
    gate = makeGate();
    expect(await decide(gate, gate.code('CN-110000', { status: 2 }).text)).toMatchObject({ result: 'staff', reason: 'STATUS_YELLOW', status: 2 });
    expect(await decide(gate, gate.code('CN-110000', { status: 3 }).text)).toMatchObject({ result: 'deny', reason: 'STATUS_RED', status: 3 });
  });

  it('REPLAY within antiPassbackSeconds at this gate, and not after', async () => {
    gate = makeGate({ policy: { antiPassbackSeconds: 20 } });
    const { text } = gate.code('CN-440000');
    expect(await decide(gate, text)).toMatchObject({ result: 'open' });
    gate.clock.epochMs += 19_000;
    expect(await decide(gate, text)).toMatchObject({ result: 'deny', reason: 'REPLAY' });
    gate.clock.epochMs += 2_000;
    expect(await decide(gate, text)).toMatchObject({ result: 'open' });
  });

  it('a dry run records nothing: no event, no anti-passback memory', async () => {
    gate = makeGate();
    const { text } = gate.code('CN-330000');
    await gate.verifier.present({ input: 'qr', text }, { dryRun: true });
    expect(gate.store.outboxStats().depth).toBe(0);
    expect(await decide(gate, text)).toMatchObject({ result: 'open' });
  });
});

describe('ID-card decisions', () => {
  const card = (idNumber: string): Presented => ({ input: 'idcard', idNumber, maskedName: '张*' });

  it('ID_INVALID for a wrong check digit or form', async () => {
    gate = makeGate();
    for (const id of ['110105194912310021', '11010519491331002X', '1101051949123100', 'ABCDEFGHIJKLMNOPQR']) {
      expect(await decide(gate, card(id))).toMatchObject({ result: 'deny', reason: 'ID_INVALID', format: 'IDCARD', handle: null });
    }
  });

  it('LIST_STALE without a fresh holders list; status from the list when fresh', async () => {
    gate = makeGate();
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'staff', reason: 'LIST_STALE' });
    const handle = holderHandleOf(gate.fed.holderKey, ID);
    delta(gate, 'holders', [[handle, 1, T0 - 100, T0 + 86400]]);
    expect(await decide(gate, card(ID.toLowerCase()))).toMatchObject({ result: 'open', reason: 'OK', handle, displayName: '张*' });
    gate.clock.epochMs += 60_000;
    delta(gate, 'holders', [[handle, 0, T0, T0 + 86400]]);
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'deny', reason: 'REVOKED' });
  });

  it('HOLDER_UNKNOWN by policy, LOOKUP_TIMEOUT when the backend does not answer, the answer otherwise', async () => {
    gate = makeGate({ policy: { unknownHolder: 'deny' } });
    gate.freshLists();
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'deny', reason: 'HOLDER_UNKNOWN' });
    gate.close();

    gate = makeGate();
    gate.freshLists();
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'staff', reason: 'LOOKUP_TIMEOUT' });
    gate.close();

    const answers: Record<string, LookupAnswer['s']> = {};
    gate = makeGate({ lookup: { lookup: async (holder) => ({ holder, s: answers[holder] ?? null, at: T0 }) } });
    gate.freshLists();
    const handle = holderHandleOf(gate.fed.holderKey, ID);
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'staff', reason: 'HOLDER_UNKNOWN' });
    answers[handle] = 3;
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'deny', reason: 'STATUS_RED', status: 3 });
    answers[handle] = 1;
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'open', reason: 'OK' });
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'deny', reason: 'REPLAY' });
  });

  it('UNSUPPORTED_FORMAT when policy does not accept ID cards', async () => {
    gate = makeGate({ policy: { acceptFormats: ['HP1'] } });
    expect(await decide(gate, card(ID))).toMatchObject({ result: 'deny', reason: 'UNSUPPORTED_FORMAT' });
  });
});

describe('set-mode override', () => {
  it('replaces the result while in force, keeps the reason, records the mode, and lapses at its expiry', async () => {
    gate = makeGate();
    const modes = new ModeOverrides(gate.store, gate.clock);
    modes.set('staff', 60, { actor: 'ops:t', jti: 'j1' });
    expect(await decide(gate, gate.code('CN-330000').text)).toMatchObject({ result: 'staff', reason: 'OK', mode: 'staff' });
    expect(await decide(gate, gate.code('CN-330000', { status: 3 }).text)).toMatchObject({ result: 'deny', reason: 'STATUS_RED' });
    modes.set('deny', 60, { actor: 'ops:t', jti: 'j2' });
    expect(await decide(gate, gate.code('CN-330000').text)).toMatchObject({ result: 'deny', reason: 'OK', mode: 'deny' });
    modes.set('open', 60, { actor: 'ops:t', jti: 'j3' });
    const v = await gate.verifier.present({ input: 'qr', text: 'HP1:garbage' });
    expect(v.decision).toMatchObject({ result: 'open', reason: 'BAD_ENCODING', mode: 'open' });
    expect(gate.store.pendingEvents(0, 100).at(-1)!.event).toMatchObject({ result: 'open', reason: 'BAD_ENCODING', mode: 'open' });
    gate.clock.epochMs += 61_000;
    expect(await decide(gate, 'HP1:garbage')).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
  });
});

describe('revision 2 (issue 11) defects in the decision core', () => {
  const CJK80 = '张'.repeat(80);

  it('defect 5: a valid HP1 code with an 80-character CJK nm (signed payload over 256 bytes) opens', async () => {
    gate = makeGate();
    const { text } = gate.code('CN-330000', { maskedName: CJK80 });
    const cose = base45Decode(text.slice(4))!;
    expect(cose.length).toBeGreaterThan(300);
    const d = await decide(gate, text);
    expect(d).toMatchObject({ result: 'open', reason: 'OK', displayName: '张***' });
    // The limits still hold for each claim: a 270-byte nm is over the 256-byte string limit.
    expect(await decide(gate, gate.code('CN-330000', { maskedName: '张'.repeat(90) }).text)).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
  });

  it('defect 6: an HP1 code with a crit header (unknown label, alg listed, or empty) is refused BAD_ENCODING', async () => {
    gate = makeGate();
    const key = gate.fed.issuer('CN-330000');
    const header = () => new Map<number, unknown>([[1, -7], [4, Buffer.from(key.kid, 'hex')]]);
    expect(await decide(gate, hp1With(key, header()))).toMatchObject({ result: 'open', reason: 'OK' });
    for (const crit of [[99], [1], [], [-70001]]) {
      expect(await decide(gate, hp1With(key, header().set(2, crit))), JSON.stringify(crit)).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
    }
    // crit belongs in the protected header; in the unprotected one it is malformed.
    expect(await decide(gate, hp1With(key, header(), new Map([[2, [99]]])))).toMatchObject({ result: 'deny', reason: 'BAD_ENCODING' });
  });

  it('defect 7: an ID number with an impossible birth date (31 February, right check digit) is ID_INVALID, as a future one', async () => {
    gate = makeGate({ policy: { unknownHolder: 'deny' } });
    gate.freshLists();
    const card = (idNumber: string): Presented => ({ input: 'idcard', idNumber });
    for (const date of ['19490231', '19490229', '19490431', '19490001', '20261128', '20991231']) {
      expect(await decide(gate, card(idBorn(date))), date).toMatchObject({ result: 'deny', reason: 'ID_INVALID', handle: null });
    }
    // Real dates, a leap day and today (2026-11-27) among them, are people: here unknown holders.
    for (const date of ['20000229', '19491231', '20261127']) {
      expect(await decide(gate, card(idBorn(date))), date).toMatchObject({ reason: 'HOLDER_UNKNOWN' });
    }
  });

  it('defect 12: the decision never carries nm as given: `*` in it, control and bidi characters, nothing left', async () => {
    gate = makeGate();
    const shown = async (nm: string) => (await decide(gate, gate.code('CN-110000', { maskedName: nm }).text)).displayName;
    expect(await shown('张*110105194912310021')).toBe('张***');
    expect(await shown('\u202E张三\u0000\u200B')).toBe('张*');
    expect(await shown('\u202Eevil\u202C')).toBe('e***');
    expect(await shown('\u202E\u200B\u0000')).toBeNull();
    expect(await shown('')).toBeNull();
    // An ID-card reader's name goes through the same rule.
    gate.freshLists();
    const d = await decide(gate, { input: 'idcard', idNumber: ID, maskedName: '张*110105194912310021\u202E' });
    expect(d.displayName).toBe('张***');
  });

  it('REPLAY is a deny (revision 2), for a code and for an ID card', async () => {
    gate = makeGate({ policy: { antiPassbackSeconds: 20, unknownHolder: 'open' } });
    gate.freshLists();
    const { text } = gate.code('CN-330000');
    expect(await decide(gate, text)).toMatchObject({ result: 'open', reason: 'OK' });
    expect(await decide(gate, text)).toMatchObject({ result: 'deny', reason: 'REPLAY' });
    const card: Presented = { input: 'idcard', idNumber: ID };
    expect(await decide(gate, card)).toMatchObject({ result: 'open', reason: 'OK' });
    expect(await decide(gate, card)).toMatchObject({ result: 'deny', reason: 'REPLAY' });
    const events = gate.store.pendingEvents(0, 100).map((e) => e.event as { reason: string; result: string });
    expect(events.filter((e) => e.reason === 'REPLAY').map((e) => e.result)).toEqual(['deny', 'deny']);
  });
});

describe('§8 coverage', () => {
  it('every reason that applies to HP1 and ID cards was produced by the tests above', () => {
    const applicable: Reason[] = ['UNREADABLE', 'UNSUPPORTED_FORMAT', 'BAD_ENCODING', 'UNKNOWN_KEY', 'BAD_SIGNATURE', 'KEY_NOT_VALID', 'ISSUER_MISMATCH', 'ISSUER_NOT_ACCEPTED', 'NOT_YET_VALID', 'EXPIRED', 'REVOKED', 'ID_INVALID', 'CLOCK_UNTRUSTED', 'TRUST_STALE', 'LIST_STALE', 'HOLDER_UNKNOWN', 'LOOKUP_TIMEOUT', 'STATUS_YELLOW', 'STATUS_RED', 'REPLAY', 'OK'];
    expect([...applicable].filter((r) => !produced.has(r))).toEqual([]);
  });
});
