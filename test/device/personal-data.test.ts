/**
 * Personal data never reaches the disk: after recorded ID-card and code decisions, the data
 * directory's bytes (database, WAL, shared memory) hold no ID number, no name and no scanned text,
 * in ASCII/UTF-8 or UTF-16.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGate, T0 } from '../helpers/gate.js';
import { holderHandleOf, signEnvelope } from '../../scripts/lib/issuer.js';

const IDS = ['11010519491231002X', '440524188001010014', '110101199003074477'];
const MASKED = '张*';

function dataDirBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
}

function holds(haystack: Buffer, needle: string): boolean {
  return haystack.includes(Buffer.from(needle, 'utf8')) || haystack.includes(Buffer.from(needle, 'utf16le')) || haystack.includes(Buffer.from(needle.toLowerCase(), 'utf8'));
}

describe('personal data', () => {
  it('no ID number, name or scanned text in the data directory after recorded decisions', async () => {
    const gate = await makeGate({ lookup: { lookup: async (holder) => ({ holder, s: 1, at: T0 }) } });
    try {
      gate.freshLists();
      const known = holderHandleOf(gate.fed.holderKey, IDS[0]!);
      gate.ingest(signEnvelope(gate.fed.listSigner, 'passgate-list+json', { list: 'holders', from: 1, to: 2, put: [[known, 1, T0, T0 + 86400]], del: [] }));
      const codes = [gate.code('CN-330000', { holderId: IDS[1]!, maskedName: MASKED }).text, gate.code('CN-440000').text];
      for (const idNumber of [...IDS, '11010519491231002Y']) {
        const v = await gate.verifier.verify({ input: 'idcard', idNumber, maskedName: MASKED });
        expect(v.seq).not.toBeNull();
      }
      for (const text of codes) await gate.verifier.verify({ input: 'qr', text });
      expect(gate.store.outboxStats().depth).toBe(6);

      const bytes = dataDirBytes(gate.dir);
      for (const id of IDS) expect(holds(bytes, id), id).toBe(false);
      expect(holds(bytes, MASKED)).toBe(false);
      for (const text of codes) expect(holds(bytes, text.slice(4, 40))).toBe(false);
      // The handle is there instead: the check above can see what the store wrote.
      expect(bytes.includes(Buffer.from(known, 'utf8'))).toBe(true);
    } finally {
      await gate.close();
    }
  });
});
