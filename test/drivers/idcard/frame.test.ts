import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildCommand,
  buildResponse,
  commandFrame,
  parseResponse,
  SamDeframer,
  type Deframed,
} from '../../../drivers/idcard/frame.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('GA/T 467 command builders (hardware.md §1.2 table)', () => {
  it.each([
    ['find', 'AA AA AA 96 69 00 03 20 01 22'],
    ['select', 'AA AA AA 96 69 00 03 20 02 21'],
    ['readText', 'AA AA AA 96 69 00 03 30 01 32'],
    ['readTextFingerprint', 'AA AA AA 96 69 00 03 30 10 23'],
    ['readAddress', 'AA AA AA 96 69 00 03 30 03 30'],
    ['samStatus', 'AA AA AA 96 69 00 03 11 FF ED'],
    ['samId', 'AA AA AA 96 69 00 03 12 FF EE'],
  ] as const)('%s = %s', (name, bytes) => {
    expect(commandFrame(name)).toEqual(hex(bytes));
  });

  it('set max RF frame bytes', () => {
    expect(buildCommand(0x61, 0xff, Buffer.from([0x50]))).toEqual(hex('AA AA AA 96 69 00 04 61 FF 50 CA'));
  });

  it.each([
    ['find OK', buildResponse(0x9f, Buffer.alloc(4)), 'AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97'],
    ['select OK', buildResponse(0x90, Buffer.alloc(8)), 'AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C'],
    ['no card', buildResponse(0x80), 'AA AA AA 96 69 00 04 00 00 80 84'],
    ['select failed', buildResponse(0x81), 'AA AA AA 96 69 00 04 00 00 81 85'],
    ['read failed', buildResponse(0x41), 'AA AA AA 96 69 00 04 00 00 41 45'],
    ['SAM status OK', buildResponse(0x90), 'AA AA AA 96 69 00 04 00 00 90 94'],
  ])('reply %s', (_name, built, bytes) => {
    expect(built).toEqual(hex(bytes));
  });
});

function bodies(out: Deframed[]): string[] {
  return out.filter((d): d is Extract<Deframed, { type: 'frame' }> => d.type === 'frame').map((d) => d.body.toString('hex'));
}

describe('SamDeframer', () => {
  const findOk = hex('AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97');
  const noCard = hex('AA AA AA 96 69 00 04 00 00 80 84');

  it('reassembles a frame fed one byte at a time', () => {
    const d = new SamDeframer();
    const out: Deframed[] = [];
    for (const byte of findOk) out.push(...d.push(Buffer.from([byte])));
    expect(bodies(out)).toEqual(['00009f00000000']);
    const r = parseResponse((out[0] as { body: Buffer }).body);
    expect(r?.sw3).toBe(0x9f);
    expect(d.buffered).toBe(0);
  });

  it('skips noise, including partial preambles, before a frame', () => {
    const d = new SamDeframer();
    const out = d.push(Buffer.concat([hex('01 02 AA AA 96 AA AA AA 96 11'), noCard, hex('AA AA')]));
    expect(bodies(out)).toEqual(['000080']);
    expect(d.noiseBytes).toBe(10);
    expect(d.buffered).toBe(2); // a possible preamble start is kept
    expect(bodies(d.push(findOk.subarray(2)))).toEqual(['00009f00000000']);
  });

  it('drops a bad checksum and resynchronises to the next frame', () => {
    const d = new SamDeframer();
    const bad = Buffer.from(noCard);
    bad[bad.length - 1] = 0x00;
    const out = d.push(Buffer.concat([bad, findOk]));
    expect(out[0]).toEqual({ type: 'error', reason: 'bad-checksum', length: 4 });
    expect(bodies(out)).toEqual(['00009f00000000']);
  });

  it('drops an impossible length without waiting for it', () => {
    const d = new SamDeframer({ maxLength: 4096 });
    const out = d.push(Buffer.concat([hex('AA AA AA 96 69 FF FF'), noCard, hex('AA AA AA 96 69 00 01'), findOk]));
    expect(out.filter((o) => o.type === 'error').map((o) => (o as { reason: string }).reason)).toEqual(['bad-length', 'bad-length']);
    expect(bodies(out)).toEqual(['000080', '00009f00000000']);
  });

  it('finds a frame hidden behind a false preamble whose checksum fails', () => {
    // a false start claims LEN 8 and swallows the start of the real frame
    const d = new SamDeframer();
    const out = d.push(Buffer.concat([hex('AA AA AA 96 69 00 08 00'), noCard]));
    expect(bodies(out)).toEqual(['000080']);
  });

  // --- properties -------------------------------------------------------------------------------
  /** Noise with no 0x69 can never complete a preamble, alone or joined to a frame's start. */
  const noise = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0x69 ? 0x68 : b))));
  const validFrame = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }))
    .map(([sw3, data]) => buildResponse(sw3, data));
  /** A frame with a real preamble and length but a wrong checksum; its body cannot hide a preamble. */
  const corruptFrame = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 1, max: 255 }))
    .map(([sw3, data, flip]) => {
      const f = buildResponse(sw3, Buffer.from(data.map((b) => (b === 0x69 || b === 0x96 ? 0x00 : b))));
      f[f.length - 1] = f[f.length - 1]! ^ flip;
      return f;
    });

  function splitAndFeed(stream: Buffer, cuts: number[]): Deframed[] {
    const d = new SamDeframer();
    const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
    const out: Deframed[] = [];
    let prev = 0;
    for (const p of [...points, stream.length]) {
      out.push(...d.push(stream.subarray(prev, p)));
      prev = p;
    }
    return out;
  }

  it('property: noise + valid frames split at random points → exactly the valid frames (2,000 runs)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, validFrame), { maxLength: 8 }), noise, fc.array(fc.nat(), { maxLength: 30 }), (pairs, tail, cuts) => {
        const stream = Buffer.concat([...pairs.flatMap(([n, f]) => [n, f]), tail]);
        const out = splitAndFeed(stream, cuts);
        expect(bodies(out)).toEqual(pairs.map(([, f]) => f.subarray(7, f.length - 1).toString('hex')));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: corrupt frames among valid ones are dropped, the valid ones all come out (1,000 runs)', () => {
    const item = fc.oneof(
      validFrame.map((f) => ({ valid: true, f })),
      corruptFrame.map((f) => ({ valid: false, f })),
      noise.map((f) => ({ valid: false, f })),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
        const out = splitAndFeed(Buffer.concat(items.map((i) => i.f)), cuts);
        expect(bodies(out)).toEqual(items.filter((i) => i.valid).map((i) => i.f.subarray(7, i.f.length - 1).toString('hex')));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: arbitrary bytes never throw, and whatever comes out has a valid checksum (1,000 runs)', () => {
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 64 }), validFrame, fc.constant(hex('AA AA AA 96 69')));
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 20 }), (chunks) => {
        const d = new SamDeframer();
        for (const c of chunks) {
          for (const o of d.push(c)) {
            if (o.type === 'frame') {
              const rebuilt = buildResponse(o.body[2] ?? 0, o.body.subarray(3), o.body[0], o.body[1]);
              expect(rebuilt.subarray(7, rebuilt.length - 1)).toEqual(o.body);
            }
          }
        }
        expect(d.buffered).toBeLessThanOrEqual(7 + 4096);
      }),
      { numRuns: 1000 },
    );
  });
});
