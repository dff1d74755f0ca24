import { describe, expect, it } from 'vitest';
import { encodeHidPosReports, HidPosDecoder } from '../../../drivers/hid-scanner/hidpos.js';
import type { CodeResult } from '../../../drivers/common/code-text.js';
import { accessIsTwoReports } from './recorded.js';

const feed = (d: HidPosDecoder, reports: Uint8Array[]): CodeResult[] => reports.flatMap((r) => d.push(r));

describe('HidPosDecoder (usage page 0x8C)', () => {
  it('reassembles a recorded two-report Access-IS code and strips the AIM id', () => {
    const { reports, text } = accessIsTwoReports();
    expect(feed(new HidPosDecoder(), reports)).toEqual([{ ok: true, text, aim: ']Q1' }]);
  });

  it('ignores reports with other report IDs, even between parts of a code', () => {
    const { reports, text } = accessIsTwoReports();
    const d = new HidPosDecoder();
    const status = Buffer.alloc(64);
    status[0] = 0x04;
    expect(feed(d, [reports[0]!, status, reports[1]!])).toEqual([{ ok: true, text, aim: ']Q1' }]);
    expect(d.otherReports).toBe(1);
  });

  it('works with the report-ID byte absent (offsets one less)', () => {
    const reports = encodeHidPosReports('A'.repeat(130), { reportId: null });
    expect(reports.map((r) => r.length)).toEqual([63, 63, 63]);
    expect(feed(new HidPosDecoder({ reportId: null }), reports)).toEqual([{ ok: true, text: 'A'.repeat(130), aim: ']Q1' }]);
  });

  it('length byte counting the AIM bytes, a CR LF suffix, and UTF-8 split across reports', () => {
    const text = '健'.repeat(19) + 'x'; // 57 + 1 bytes: the 19th character straddles the 56-byte report boundary
    const reports = encodeHidPosReports(Buffer.from(text + '\r\n'), { lengthIncludesAim: true });
    expect(reports).toHaveLength(2);
    expect(feed(new HidPosDecoder({ lengthIncludesAim: true }), reports)).toEqual([{ ok: true, text, aim: ']Q1' }]);
  });

  it('AIM policy, empty code, garbage, and over-long codes (resynchronising at the final report)', () => {
    const d = new HidPosDecoder({ acceptAim: 'qr', maxLength: 100 });
    expect(feed(d, encodeHidPosReports('5901234123457', { aim: ']E0' }))).toEqual([{ ok: false, unreadable: 'symbology ]E0 not accepted', aim: ']E0' }]);
    expect(feed(d, encodeHidPosReports(''))).toEqual([{ ok: false, unreadable: 'empty code', aim: ']Q1' }]);
    expect(feed(d, encodeHidPosReports(Buffer.from([0xff, 0xfe, 0x41])))).toEqual([{ ok: false, unreadable: 'not valid UTF-8', aim: ']Q1' }]);
    expect(feed(d, encodeHidPosReports('Z'.repeat(300)))).toEqual([{ ok: false, unreadable: 'code over 100 bytes', aim: ']Q1' }]);
    expect(feed(d, encodeHidPosReports('ok'))).toEqual([{ ok: true, text: 'ok', aim: ']Q1' }]);
  });

  it('a code cut short by an unplug is flushed as unreadable', () => {
    const d = new HidPosDecoder();
    d.push(encodeHidPosReports('x'.repeat(100))[0]!);
    expect(d.flush()).toEqual([{ ok: false, unreadable: 'code not terminated', aim: null }]);
  });
});
