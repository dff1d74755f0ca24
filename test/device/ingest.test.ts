import { describe, it, expect, afterEach } from 'vitest';
import { makeGate, T0, type TestGate } from '../helpers/gate.js';
import { Federation } from '../../scripts/lib/federation.js';
import { generateKey, signEnvelope, snapshotChunks } from '../../scripts/lib/issuer.js';
import { isPassgateError } from '../../base/errors.js';
import type { WireEntry } from '../../device/core/lists.js';

let gate: TestGate;
afterEach(() => gate?.close());

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPassgateError(e)) return e.code;
    throw e;
  }
  return 'accepted';
}

/** Everything a refused import could have touched. */
function snapshotOf(g: TestGate) {
  return JSON.stringify([g.store.document('trust'), g.store.document('policy'), g.store.meta('tokens'), g.store.meta('holders'), g.store.count('tokens')]);
}

const key = (i: number) => i.toString(16).padStart(32, '0');
const entries = (n: number, s: 0 | 1 | 2 | 3 = 0): WireEntry[] => Array.from({ length: n }, (_, i) => [key(i), s, T0, T0 + 86400]);

describe('trust bundle (§4)', () => {
  it('accepts only a strictly higher version signed by a pinned root; equal is ignored, lower refused', async () => {
    gate = await makeGate();
    expect(gate.ingest(gate.fed.trustEnvelope(1, T0))).toMatchObject({ outcome: 'ignored' });
    expect(gate.ingest(gate.fed.trustEnvelope(3, T0))).toMatchObject({ outcome: 'applied', version: 3 });
    const before = snapshotOf(gate);
    expect(refusal(() => gate.ingest(gate.fed.trustEnvelope(2, T0)))).toBe('DOWNGRADE');
    expect(snapshotOf(gate)).toBe(before);
  });

  it('refuses a bundle from another federation, a forged signature, a wrong typ, and one issued in the future', async () => {
    gate = await makeGate();
    const before = snapshotOf(gate);
    const other = Federation.create();
    expect(refusal(() => gate.ingest(other.trustEnvelope(9, T0)))).toBe('UNKNOWN_KEY');
    const env = JSON.parse(gate.fed.trustEnvelope(9, T0));
    const forged = JSON.stringify({ ...env, signature: JSON.parse(gate.fed.trustEnvelope(9, T0 + 1)).signature });
    expect(refusal(() => gate.ingest(forged))).toBe('BAD_SIGNATURE');
    const bundle = JSON.parse(Buffer.from(env.payload, 'base64url').toString());
    expect(refusal(() => gate.ingest(signEnvelope(gate.fed.root, 'passgate-policy+json', bundle)))).not.toBe('accepted');
    expect(refusal(() => gate.ingest(gate.fed.trustEnvelope(9, T0 + 3600)))).toBe('NOT_YET_VALID');
    expect(refusal(() => gate.ingest('{"protected":"x"}'))).toBe('BAD_ENCODING');
    expect(refusal(() => gate.ingest('not json'))).toBe('BAD_ENCODING');
    expect(snapshotOf(gate)).toBe(before);
  });

  it('a key absent from the new bundle is revoked', async () => {
    gate = await makeGate();
    const code = gate.code('CN-110000');
    const env = JSON.parse(gate.fed.trustEnvelope(2, T0));
    const bundle = JSON.parse(Buffer.from(env.payload, 'base64url').toString());
    bundle.issuers = bundle.issuers.filter((i: { id: string }) => i.id !== 'CN-110000');
    gate.ingest(signEnvelope(gate.fed.root, 'passgate-trust+json', bundle));
    expect((await gate.verifier.verify({ input: 'qr', text: code.text }, { dryRun: true })).decision.reason).toBe('UNKNOWN_KEY');
  });
});

describe('policy (§6)', () => {
  it('must be signed by a policy signer: the lists signer or a root is the wrong role', async () => {
    gate = await makeGate();
    const before = snapshotOf(gate);
    const policy = { version: 5, dcc: 'deny' };
    expect(refusal(() => gate.ingest(signEnvelope(gate.fed.listSigner, 'passgate-policy+json', policy)))).toBe('UNKNOWN_KEY');
    expect(refusal(() => gate.ingest(signEnvelope(gate.fed.root, 'passgate-policy+json', policy)))).toBe('UNKNOWN_KEY');
    expect(refusal(() => gate.ingest(gate.fed.policyEnvelope({ version: 5, dcc: 'maybe' as never })))).toBe('BAD_ENCODING');
    expect(snapshotOf(gate)).toBe(before);
    expect(gate.ingest(gate.fed.policyEnvelope({ version: 5, antiPassbackSeconds: 5 }))).toMatchObject({ outcome: 'applied' });
    expect(gate.verifier.currentPolicy()).toMatchObject({ version: 5, antiPassbackSeconds: 5, dcc: 'open' });
  });
});

describe('lists (§5)', () => {
  const deltaOf = (g: TestGate, from: number, to: number, put: WireEntry[] = [], del: string[] = [], list = 'tokens') =>
    signEnvelope(g.fed.listSigner, 'passgate-list+json', { list, from, to, put, del });

  it('applies a delta iff from = held; duplicates ignored; a gap refused with the version to resync from', async () => {
    gate = await makeGate();
    expect(gate.ingest(deltaOf(gate, 0, 5, entries(3)))).toMatchObject({ outcome: 'applied', version: 5 });
    expect(gate.store.count('tokens')).toBe(3);
    expect(gate.ingest(deltaOf(gate, 0, 5, entries(3)))).toMatchObject({ outcome: 'ignored', version: 5 });
    expect(gate.ingest(deltaOf(gate, 2, 4))).toMatchObject({ outcome: 'ignored' });
    expect(refusal(() => gate.ingest(deltaOf(gate, 7, 9)))).toBe('LIST_GAP');
    expect(refusal(() => gate.ingest(deltaOf(gate, 3, 9)))).toBe('LIST_GAP');
    expect(gate.ingest(deltaOf(gate, 5, 6, [], [key(0)]))).toMatchObject({ outcome: 'applied', version: 6 });
    expect(gate.store.count('tokens')).toBe(2);
  });

  it('a verified delta raises the clock floor to the time it was signed; a refused one leaves the floor where it was', async () => {
    gate = await makeGate();
    const floor = gate.store.clockFloorMs();
    const at = Math.floor(floor / 1000) + 3600;
    const signed = (key: typeof gate.fed.listSigner, from: number, iat: number) =>
      signEnvelope(key, 'passgate-list+json', { list: 'tokens', from, to: from + 1, put: entries(2), del: [], iat });
    expect(refusal(() => gate.ingest(signed(gate.fed.policySigner, 0, at + 60)))).toBe('UNKNOWN_KEY');
    expect(gate.store.clockFloorMs()).toBe(floor);
    expect(gate.ingest(signed(gate.fed.listSigner, 0, at))).toMatchObject({ outcome: 'applied' });
    expect(gate.store.clockFloorMs()).toBe(at * 1000);
  });

  it('refuses a malformed delta whole: nothing of it is applied', async () => {
    gate = await makeGate();
    const before = snapshotOf(gate);
    const bad = [...entries(5), ['zz', 0, 1, 2]] as WireEntry[];
    expect(refusal(() => gate.ingest(deltaOf(gate, 0, 1, bad)))).toBe('BAD_ENCODING');
    expect(refusal(() => gate.ingest(deltaOf(gate, 0, 1, [], [], 'people')))).toBe('BAD_ENCODING');
    expect(refusal(() => gate.ingest(signEnvelope(gate.fed.policySigner, 'passgate-list+json', { list: 'tokens', from: 0, to: 1 })))).toBe('UNKNOWN_KEY');
    expect(snapshotOf(gate)).toBe(before);
  });

  it('stages snapshot chunks in any order and swaps them in when all are there', async () => {
    gate = await makeGate();
    gate.ingest(deltaOf(gate, 0, 3, entries(2, 1)));
    const chunks = snapshotChunks(gate.fed.listSigner, 'tokens', 10, entries(25), 10);
    expect(gate.ingest(chunks[2]!)).toMatchObject({ outcome: 'staged', received: 1, chunks: 3 });
    expect(gate.ingest(chunks[2]!)).toMatchObject({ outcome: 'ignored' });
    expect(gate.ingest(chunks[0]!)).toMatchObject({ outcome: 'staged', received: 2 });
    expect(gate.store.meta('tokens').version).toBe(3);
    expect(gate.ingest(chunks[1]!)).toMatchObject({ outcome: 'applied', version: 10 });
    expect(gate.store.count('tokens')).toBe(25);
    expect(gate.store.entry('tokens', key(0))).toMatchObject({ s: 0 });
    expect(gate.ingest(chunks[1]!)).toMatchObject({ outcome: 'ignored' });
  });

  it('refuses a snapshot whose entries do not number count, keeping the old list', async () => {
    gate = await makeGate();
    gate.ingest(deltaOf(gate, 0, 3, entries(2, 1)));
    const signer = gate.fed.listSigner;
    const lying = [0, 1].map((chunk) => signEnvelope(signer, 'passgate-list+json', { list: 'tokens', snapshot: 4, chunk, chunks: 2, count: 7, put: entries(3) }));
    gate.ingest(lying[0]!);
    expect(refusal(() => gate.ingest(lying[1]!))).toBe('COUNT_MISMATCH');
    expect(gate.store.meta('tokens').version).toBe(3);
    expect(gate.store.count('tokens')).toBe(2);
  });
});

describe('commands (§7) through import', () => {
  const command = (g: TestGate, o: Record<string, unknown>) =>
    signEnvelope(g.fed.commandSigner, 'passgate-cmd+json', { aud: 'test-site/gate-1', cmd: 'open', actor: 'ops:t', iat: T0, exp: T0 + 60, jti: `j${o.ctr}`, ...o });

  it('needs the commands signer, this gate as aud, an unexpired exp and a rising counter', async () => {
    gate = await makeGate();
    expect(gate.ingest(command(gate, { ctr: 5 }))).toMatchObject({ outcome: 'verified' });
    expect(refusal(() => gate.ingest(command(gate, { ctr: 5 })))).toBe('REPLAYED');
    expect(refusal(() => gate.ingest(command(gate, { ctr: 6, aud: 'test-site/gate-2' })))).toBe('WRONG_AUDIENCE');
    expect(refusal(() => gate.ingest(command(gate, { ctr: 7, exp: T0 - 1 })))).toBe('EXPIRED');
    expect(refusal(() => gate.ingest(signEnvelope(generateKey('EdDSA').key, 'passgate-cmd+json', { ctr: 8 })))).toBe('UNKNOWN_KEY');
    expect(gate.ingest(command(gate, { ctr: 9 }))).toMatchObject({ outcome: 'verified' });
  });
});

describe('audience and acks (§7 revision 2)', () => {
  const command = (g: TestGate, o: Record<string, unknown>) =>
    signEnvelope(g.fed.commandSigner, 'passgate-cmd+json', { aud: 'test-site/gate-1', cmd: 'open', actor: 'ops:t', iat: T0, exp: T0 + 60, jti: `j${o.ctr}`, ...o });
  const ack = (g: TestGate, o: Record<string, unknown>, key = g.fed.listSigner) =>
    signEnvelope(key, 'passgate-ack+json', { aud: 'test-site/gate-1', upTo: 1, iat: T0, ...o });

  it('defect 11: a command for the same gate id at another site, or naming the gate id alone, is WRONG_AUDIENCE', async () => {
    gate = await makeGate();
    expect(refusal(() => gate.ingest(command(gate, { ctr: 1, aud: 'other-site/gate-1' })))).toBe('WRONG_AUDIENCE');
    expect(refusal(() => gate.ingest(command(gate, { ctr: 2, aud: 'gate-1' })))).toBe('WRONG_AUDIENCE');
    expect(gate.ingest(command(gate, { ctr: 3 }))).toMatchObject({ outcome: 'verified', command: { aud: 'test-site/gate-1' } });
  });

  it('defect 9: an ack counts only signed by a list signer, for this gate, and not beyond the last seq', async () => {
    gate = await makeGate();
    gate.store.recordEvent({ type: 'system', what: 'test' }, T0 * 1000);
    gate.store.recordEvent({ type: 'system', what: 'test' }, T0 * 1000);
    expect(gate.ingest(ack(gate, { upTo: 2 }))).toMatchObject({ outcome: 'verified', ack: { upTo: 2 } });
    expect(refusal(() => gate.ingest(JSON.stringify({ upTo: 2 })))).toBe('BAD_ENCODING');
    expect(refusal(() => gate.ingest(ack(gate, { upTo: 2 }, gate.fed.commandSigner)))).toBe('UNKNOWN_KEY');
    expect(refusal(() => gate.ingest(ack(gate, { upTo: 2, aud: 'other-site/gate-1' })))).toBe('WRONG_AUDIENCE');
    expect(refusal(() => gate.ingest(ack(gate, { upTo: 3 })))).toBe('ACK_BEYOND_LAST_SEQ');
    expect(refusal(() => gate.ingest(ack(gate, { upTo: '2' })))).toBe('BAD_ENCODING');
  });
});
