import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LineFramer, frameLine, type FramedLine } from '../../../drivers/serial-scanner/framer.js';

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));

function feed(framer: LineFramer, chunks: (string | number[])[]): FramedLine[] {
  return chunks.flatMap((c) => framer.push(b(c)));
}

describe('LineFramer', () => {
  it('ends lines on CR, LF and CR LF, counting a CR LF once', () => {
    const f = new LineFramer();
    expect(feed(f, ['one\rtwo\nthree\r\nfour\r\r\n\n'])).toEqual([
      { ok: true, text: 'one', aim: null },
      { ok: true, text: 'two', aim: null },
      { ok: true, text: 'three', aim: null },
      { ok: true, text: 'four', aim: null },
    ]);
  });

  it('joins a line split at every byte, and a CR LF split across chunks', () => {
    const f = new LineFramer();
    const text = ']Q1HC1:ABC$%*+-./: 123';
    const out = feed(f, [...`${text}\r`].map((c) => c).concat(['\nnext\r', '\n']));
    expect(out).toEqual([
      { ok: true, text: 'HC1:ABC$%*+-./: 123', aim: ']Q1' },
      { ok: true, text: 'next', aim: null },
    ]);
    expect(f.pending).toBe(0);
  });

  it('strips AIM ids; acceptAim qr rejects other symbologies; requireAim rejects bare lines', () => {
    expect(frameLine(b(']C0ABC'))).toEqual({ ok: true, text: 'ABC', aim: ']C0' });
    expect(frameLine(b(']Q2data'), { acceptAim: 'qr' })).toEqual({ ok: true, text: 'data', aim: ']Q2' });
    expect(frameLine(b(']E0401234'), { acceptAim: 'qr' })).toEqual({ ok: false, unreadable: 'symbology ]E0 not accepted', aim: ']E0' });
    expect(frameLine(b('plain'), { acceptAim: 'qr' })).toEqual({ ok: true, text: 'plain', aim: null });
    expect(frameLine(b('plain'), { acceptAim: 'qr', requireAim: true })).toEqual({ ok: false, unreadable: 'no AIM symbology identifier', aim: null });
    // `]` not followed by letter + digit is data
    expect(frameLine(b(']QX1'))).toEqual({ ok: true, text: ']QX1', aim: null });
    expect(frameLine(b(']Q1'))).toEqual({ ok: false, unreadable: 'empty code', aim: ']Q1' });
  });

  it('decodes UTF-8 and refuses invalid UTF-8 and control characters', () => {
    const f = new LineFramer();
    expect(feed(f, [[...Buffer.from('健康码\r')]])).toEqual([{ ok: true, text: '健康码', aim: null }]);
    expect(feed(f, [[0x41, 0xff, 0xfe, 0x42, 0x0d]])).toEqual([{ ok: false, unreadable: 'not valid UTF-8', aim: null }]);
    expect(feed(f, [[0x41, 0x00, 0x42, 0x0a]])).toEqual([{ ok: false, unreadable: 'control character in code', aim: null }]);
    expect(feed(f, [[0xe5, 0x81, 0x0d]])).toEqual([{ ok: false, unreadable: 'not valid UTF-8', aim: null }]); // truncated sequence
  });

  it('accepts exactly 4096 bytes; discards a longer line whole with one unreadable, then resynchronises', () => {
    const f = new LineFramer();
    const exact = 'A'.repeat(4096);
    expect(feed(f, [exact + '\r\n'])).toEqual([{ ok: true, text: exact, aim: null }]);
    // 10 000 bytes in 7-byte chunks, then a good line in the same chunk as the terminator
    const long = 'B'.repeat(10_000);
    const chunks: string[] = [];
    for (let i = 0; i < long.length; i += 7) chunks.push(long.slice(i, i + 7));
    const out = feed(f, [...chunks, '\r\n]Q1good\r\n']);
    expect(out).toEqual([
      { ok: false, unreadable: 'line over 4096 bytes', aim: null },
      { ok: true, text: 'good', aim: ']Q1' },
    ]);
    expect(f.pending).toBe(0);
  });

  it('does not buffer the rest of an over-long line', () => {
    const f = new LineFramer({ maxLineBytes: 16 });
    expect(f.push(b(']Q1' + 'x'.repeat(20)))).toEqual([{ ok: false, unreadable: 'line over 16 bytes', aim: ']Q1' }]);
    f.push(b('y'.repeat(100_000)));
    expect(f.pending).toBe(0);
    expect(f.push(b('\nok\n'))).toEqual([{ ok: true, text: 'ok', aim: null }]);
  });

  it('reset drops a partial line', () => {
    const f = new LineFramer();
    f.push(b('partial'));
    f.reset();
    expect(f.push(b('fresh\r'))).toEqual([{ ok: true, text: 'fresh', aim: null }]);
  });

  it('property: any split of a stream gives the same lines as one chunk, and never throws', () => {
    const line = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, '')),
      fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a).toString('latin1').replace(/[\r\n]/g, '')),
      fc.constant('Z'.repeat(5000)),
    );
    const term = fc.constantFrom('\r', '\n', '\r\n');
    fc.assert(
      fc.property(fc.array(fc.tuple(line, term), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (lines, cuts) => {
        const stream = Buffer.concat(lines.map(([l, t]) => Buffer.from(l + t, 'utf8')));
        const whole = new LineFramer().push(stream);
        const f = new LineFramer();
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
        let prev = 0;
        const split: FramedLine[] = [];
        for (const p of [...points, stream.length]) {
          split.push(...f.push(stream.subarray(prev, p)));
          prev = p;
        }
        expect(split).toEqual(whole);
        expect(whole.length).toBe(lines.filter(([l]) => l.length > 0).length);
      }),
      { numRuns: 1000 },
    );
  });
});
