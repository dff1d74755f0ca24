/**
 * `npm start`: a gate in a throwaway data directory, a fresh federation of issuers, and a scripted
 * stream of codes and ID cards at the turnstile — so a newcomer sees open / deny / staff, with the
 * reason, scroll by. Nothing here touches real hardware or the network.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../device/store/store.js';
import { ingestEnvelope } from '../device/ingest.js';
import { Verifier, type LookupPort } from '../device/verifier.js';
import { SystemClock } from '../device/clock.js';
import { gateStatus } from '../device/status.js';
import type { Presented } from '../device/core/types.js';
import { Federation } from './lib/federation.js';
import { generateKey, holderHandleOf, issueHp1, signEnvelope, type Hp1Claims } from './lib/issuer.js';

const tty = process.stdout.isTTY;
const paint = (code: number, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const RESULT = { open: (s: string) => paint(32, s), deny: (s: string) => paint(31, s), staff: (s: string) => paint(33, s), error: (s: string) => paint(35, s) };

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-demo-'));
  try {
    console.log(paint(1, 'passgate demo — a simulated gate deciding offline\n'));
    const fed = Federation.create();
    const now = Math.floor(Date.now() / 1000);
    const clock = new SystemClock();
    const store = GateStore.open(dir);
    store.initialise({ site: 'metro-line-2', gate: 'north-07', roots: [fed.rootSpki()] });
    const ingest = (text: string) => ingestEnvelope(text, store, clock);
    console.log(`federation: root ${fed.root.kid}, issuers ${[...fed.issuers.values()].map((i) => `${i.id} ${i.name} (${i.key.alg})`).join(', ')}`);

    // What the backend would have pushed: trust bundle, policy, and today's lists.
    ingest(fed.trustEnvelope(1, now));
    ingest(fed.policyEnvelope({ version: 1, antiPassbackSeconds: 20 }));
    const code = (issuer: string, c: Partial<Hp1Claims> = {}) =>
      issueHp1(fed.issuer(issuer), { iss: issuer, iat: now - 30, exp: now + 600, status: 1, kind: 'dynamic', ...c });
    const revoked = code('CN-330000');
    const greenCard = '11010519491231002X';
    const lists = (list: string, put: [string, 0 | 1 | 2 | 3, number, number][]) =>
      ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from: 0, to: 1, put, del: [] }));
    lists('tokens', [[revoked.handle, 0, now, now + 86400]]);
    lists('holders', [[holderHandleOf(fed.holderKey, greenCard), 1, now, now + 86400]]);

    // The backend's answer to an online look-up: this demo's backend knows one more card.
    const knownOnline = holderHandleOf(fed.holderKey, '440524188001010014');
    const backend: LookupPort = { lookup: async (holder) => (holder === knownOnline ? { holder, s: 2, at: now } : null) };
    const verifier = new Verifier(store, clock, backend);

    const phone = code('CN-330000', { maskedName: '王*' });
    const stranger = issueHp1(generateKey('ES256').key, { iss: 'CN-330000', iat: now, exp: now + 600, status: 1, kind: 'dynamic' });
    const tampered = phone.text.slice(0, -3) + (phone.text.endsWith('000') ? '111' : '000');
    const script: [string, Presented][] = [
      ['commuter, Zhejiang phone code (ES256)', { input: 'qr', text: phone.text }],
      ['same code again at once (anti-passback)', { input: 'qr', text: phone.text }],
      ['commuter, Beijing phone code (EdDSA)', { input: 'qr', text: code('CN-110000').text }],
      ['commuter, Guangdong phone code (SM2/SM3)', { input: 'qr', text: code('CN-440000').text }],
      ['elderly passenger, printed paper code', { input: 'qr', text: code('CN-110000', { kind: 'paper', iat: now - 30 * 86400, exp: now + 150 * 86400 }).text }],
      ['yellow code', { input: 'qr', text: code('CN-440000', { status: 2 }).text }],
      ['red code', { input: 'qr', text: code('CN-330000', { status: 3 }).text }],
      ['code that expired a minute ago', { input: 'qr', text: code('CN-330000', { iat: now - 660, exp: now - 60 }).text }],
      ['code revoked by the tokens list', { input: 'qr', text: revoked.text }],
      ['screenshot edited by hand', { input: 'qr', text: tampered }],
      ['code signed by a key nobody trusts', { input: 'qr', text: stranger.text }],
      ['a web link, not a health code', { input: 'qr', text: 'https://example.com/ticket/42' }],
      ['scanner noise', { input: 'qr', unreadable: 'line over 4096 bytes' }],
      ['resident ID card, green in the holders list', { input: 'idcard', idNumber: greenCard, maskedName: '李*' }],
      ['ID card misread (check digit wrong)', { input: 'idcard', idNumber: '110105194912310021', maskedName: '李*' }],
      ['ID card not in the list, backend says yellow', { input: 'idcard', idNumber: '440524188001010014', maskedName: '陈*' }],
      ['ID card not in the list, backend silent', { input: 'idcard', idNumber: '110101199003074477', maskedName: '赵*' }],
    ];
    console.log('');
    for (const [who, presented] of script) {
      const { decision: d, latencyUs, seq } = await verifier.present(presented);
      const what = [d.format, d.issuer, d.status ? ['', 'green', 'yellow', 'red'][d.status] : null, d.displayName].filter(Boolean).join(' ');
      console.log(
        `${RESULT[d.result](d.result.toUpperCase().padEnd(5))} ${d.reason.padEnd(18)} ${who.padEnd(46)} ${what.padEnd(26)} ${(latencyUs / 1000).toFixed(2).padStart(7)} ms  event #${seq}`,
      );
    }
    const status = gateStatus(store, clock);
    console.log(`\noutbox: ${status.outbox.depth} events waiting for the backend's ack; lists tokens v${status.lists.tokens.version}, holders v${status.lists.holders.version}; trust v${status.trust?.version}`);
    console.log('every event holds handles, never an ID number, a name or the scanned text.');
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
