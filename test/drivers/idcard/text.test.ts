import { describe, expect, it } from 'vitest';
import { buildResponse, parseResponse, SamDeframer } from '../../../drivers/idcard/frame.js';
import { CARD_TYPE_MARK_OFFSET, encodeTextBlock, parseReadData, parseTextBlock, TEXT_LAYOUT } from '../../../drivers/idcard/text.js';

// Synthetic card: the GB 11643 example number with a trailing X.
const card = { name: '张三丰', idNumber: '11010519491231002X', address: '北京市西城区某街1号', authority: '北京市公安局西城分局' };

function readData(text: Buffer, photo = Buffer.alloc(1024, 0x5a)): Buffer {
  return Buffer.concat([Buffer.from([0x01, 0x00, 0x04, 0x00]), text, photo]);
}

describe('text block parser', () => {
  it('reads the ID number from its fixed field keeping the trailing X, and masks the name', () => {
    expect(parseReadData(readData(encodeTextBlock(card)))).toEqual({ ok: true, idNumber: '11010519491231002X', maskedName: '张**' });
  });

  it('the fixed layout matches hardware.md §1.4 offsets', () => {
    const text = encodeTextBlock(card);
    expect(text.length).toBe(256);
    expect(text.subarray(122, 158).toString('utf16le')).toBe('11010519491231002X');
    expect(text.subarray(0, 6).toString('utf16le')).toBe('张三丰');
    expect(text.subarray(30, 32).toString('utf16le')).toBe('1');
    expect(text.subarray(36, 52).toString('utf16le')).toBe('19491231');
    expect(TEXT_LAYOUT.validTo).toEqual([204, 16]);
  });

  it('a full-length 15-character name is shown by the §2 display rule: first character and three *', () => {
    const long = '阿'.repeat(15);
    expect(parseTextBlock(encodeTextBlock({ ...card, name: long }))).toMatchObject({ maskedName: '阿***' });
  });

  it('a blank name field gives no name at all, and control characters never reach the display', () => {
    expect(parseTextBlock(encodeTextBlock({ ...card, name: '' }))).toEqual({ ok: true, idNumber: '11010519491231002X' });
    expect(parseTextBlock(encodeTextBlock({ ...card, name: '\u202e张三' }))).toMatchObject({ maskedName: '张*' });
  });

  it('a lower-case x is upper-cased; form and check digit are the decision core’s job', () => {
    expect(parseTextBlock(encodeTextBlock({ ...card, idNumber: '11010519491231002x' }))).toMatchObject({ idNumber: '11010519491231002X' });
    expect(parseTextBlock(encodeTextBlock({ ...card, idNumber: '110105194912310021' }))).toMatchObject({ ok: true, idNumber: '110105194912310021' });
  });

  it('reports the foreigner permanent residence card (mark I at offset 248) as unsupported', () => {
    const text = encodeTextBlock({ ...card, typeMark: 'I' });
    expect(text.subarray(CARD_TYPE_MARK_OFFSET, CARD_TYPE_MARK_OFFSET + 2).toString('utf16le')).toBe('I');
    expect(parseReadData(readData(text))).toEqual({ ok: false, unreadable: 'unsupported card type (foreigner permanent residence card)' });
    expect(parseTextBlock(encodeTextBlock({ ...card, typeMark: 'J' }))).toEqual({ ok: false, unreadable: 'unsupported card type' });
  });

  it('refuses short, truncated or garbled blocks', () => {
    expect(parseReadData(Buffer.from([0x01]))).toEqual({ ok: false, unreadable: 'card read reply too short' });
    expect(parseReadData(Buffer.from([0x00, 0x10, 0x04, 0x00, ...Buffer.alloc(16)]))).toEqual({ ok: false, unreadable: 'card text block too short (16 bytes)' });
    expect(parseReadData(readData(encodeTextBlock(card), Buffer.alloc(10)))).toEqual({ ok: false, unreadable: 'card read reply truncated' });
    const garbled = encodeTextBlock(card);
    garbled.write('\u0001', 122, 'utf16le');
    expect(parseTextBlock(garbled)).toEqual({ ok: false, unreadable: 'ID number field unreadable' });
  });

  it('a 30 01 reply is 1295 bytes with the documented header, and parses end to end', () => {
    const frame = buildResponse(0x90, readData(encodeTextBlock(card)));
    expect(frame.length).toBe(1295);
    expect(frame.subarray(0, 14)).toEqual(Buffer.from('AAAAAA96690508000090010004 00'.replace(/ /g, ''), 'hex'));
    const [d] = new SamDeframer().push(frame);
    const r = parseResponse((d as { body: Buffer }).body)!;
    expect(r.sw3).toBe(0x90);
    expect(parseReadData(r.data)).toMatchObject({ ok: true, idNumber: '11010519491231002X' });
  });
});
