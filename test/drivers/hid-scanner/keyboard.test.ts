import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeKeyboardReports, KeyboardDecoder } from '../../../drivers/hid-scanner/keyboard.js';
import { LAYOUTS } from '../../../drivers/hid-scanner/layouts.js';
import type { CodeResult } from '../../../drivers/common/code-text.js';
import { FR_WEDGE_HA112, US_WEDGE_HA112, US_WEDGE_HC1 } from './recorded.js';

function decode(decoder: KeyboardDecoder, reports: Uint8Array[]): CodeResult[] {
  return reports.flatMap((r) => decoder.push(r));
}

const rep = (mod: number, ...keys: number[]): Buffer => Buffer.from([mod, 0, ...keys, ...Array(6 - keys.length).fill(0)]);

describe('KeyboardDecoder (boot reports)', () => {
  it('decodes a recorded US wedge sequence on key-down edges: roll-over, held Shift, phantom report', () => {
    expect(decode(new KeyboardDecoder(), US_WEDGE_HC1)).toEqual([{ ok: true, text: 'HC1:6B', aim: ']Q1' }]);
  });

  it('repeats a character only after a key-up', () => {
    const d = new KeyboardDecoder();
    const out = decode(d, [rep(0, 0x1e), rep(0, 0x1e), rep(0, 0x1e), rep(0), rep(0, 0x1e), rep(0), rep(0, 0x28)]);
    expect(out).toEqual([{ ok: true, text: '11', aim: null }]);
  });

  it('layouts: AZERTY decodes a US scanner as HQ&&é, and an AZERTY scanner as HA112', () => {
    expect(decode(new KeyboardDecoder({ layout: 'us' }), US_WEDGE_HA112)).toEqual([{ ok: true, text: 'HA112', aim: null }]);
    expect(decode(new KeyboardDecoder({ layout: 'fr' }), US_WEDGE_HA112)).toEqual([{ ok: true, text: 'HQ&&é', aim: null }]);
    expect(decode(new KeyboardDecoder({ layout: 'fr' }), FR_WEDGE_HA112)).toEqual([{ ok: true, text: 'HA112', aim: null }]);
  });

  it('German QWERTZ: y/z swapped, AltGr+q is @, dead keys compose or give the accent with space', () => {
    const de = new KeyboardDecoder({ layout: 'de' });
    const out = decode(de, [
      rep(0x02, 0x1c), rep(0), // Shift + US-y position → Z
      rep(0, 0x1d), rep(0), // US-z position → y
      rep(0x40, 0x14), rep(0), // AltGr+q → @
      rep(0, 0x35), rep(0), rep(0, 0x2c), rep(0), // dead ^ + space → ^
      rep(0, 0x35), rep(0), rep(0, 0x08), rep(0), // dead ^ + e → ê
      rep(0, 0x38), rep(0), // -
      rep(0, 0x28),
    ]);
    expect(out).toEqual([{ ok: true, text: 'Zy@^ê-', aim: null }]);
  });

  it('Ctrl/Alt/GUI, unmapped keys and over-long codes give one unreadable each, then it resynchronises at Enter', () => {
    const d = new KeyboardDecoder({ maxLength: 16 });
    expect(decode(d, [rep(0, 0x04), rep(0x01, 0x06), rep(0), rep(0, 0x28)])).toEqual([{ ok: false, unreadable: 'modifier key in code', aim: null }]);
    expect(decode(d, [rep(0, 0x3a), rep(0), rep(0, 0x28)])).toEqual([{ ok: false, unreadable: 'unmapped key 0x3a', aim: null }]);
    const long = encodeKeyboardReports('A'.repeat(40), 'us');
    expect(decode(d, long)).toEqual([{ ok: false, unreadable: 'code over 16 bytes', aim: null }]);
    expect(decode(d, encodeKeyboardReports('ok', 'us'))).toEqual([{ ok: true, text: 'ok', aim: null }]);
  });

  it('reports with a report-ID byte; other report IDs are ignored', () => {
    const d = new KeyboardDecoder({ reportId: 1 });
    const reports = encodeKeyboardReports('AbC', 'us', { reportId: 1 });
    expect(reports[0]!.length).toBe(9);
    const other = Buffer.from([3, 0, 0, 0x04, 0, 0, 0, 0, 0]);
    expect(decode(d, [other, ...reports])).toEqual([{ ok: true, text: 'AbC', aim: null }]);
  });

  it('flush turns an unterminated code into one unreadable; AIM policy applies to typed AIM ids', () => {
    const d = new KeyboardDecoder({ acceptAim: 'qr' });
    decode(d, encodeKeyboardReports('partial', 'us', { enter: false }));
    expect(d.flush()).toEqual([{ ok: false, unreadable: 'code not terminated', aim: null }]);
    expect(d.flush()).toEqual([]);
    expect(decode(d, encodeKeyboardReports(']E05901234123457', 'us'))).toEqual([{ ok: false, unreadable: 'symbology ]E0 not accepted', aim: ']E0' }]);
  });

  it('property: text typed by a scanner set to a layout decodes back with that layout (3 × 300 runs)', () => {
    for (const name of ['us', 'de', 'fr'] as const) {
      const typable = [...new Set(Object.values(LAYOUTS[name].keys).flatMap((e) => e.filter((o): o is string => typeof o === 'string')))].filter((c) => c !== '\t');
      const dead = Object.values(LAYOUTS[name].keys).flatMap((e) => e.flatMap((o) => (o && typeof o === 'object' ? [o.dead] : [])));
      const alphabet = [...typable, ...dead];
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 60 }), (chars) => {
          const text = chars.join('');
          const out = decode(new KeyboardDecoder({ layout: name }), encodeKeyboardReports(text, name));
          const expected = text.startsWith(']') && /^\][A-Za-z][0-9]/.test(text) ? text.slice(3) : text;
          if (expected.length === 0) expect(out[0]).toMatchObject({ ok: false, unreadable: 'empty code' });
          else expect(out).toEqual([expect.objectContaining({ ok: true, text: expected })]);
        }),
        { numRuns: 300 },
      );
    }
  });
});
