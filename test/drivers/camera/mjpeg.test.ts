import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import sharp from 'sharp';
import { MjpegSplitter } from '../../../drivers/camera/mjpeg.js';

async function jpeg(shade: number, width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** A JPEG with an APP1 segment whose payload holds a whole embedded JPEG (an EXIF-like thumbnail). */
function withThumbnail(outer: Buffer, thumb: Buffer): Buffer {
  const payload = Buffer.concat([Buffer.from('Exif\0\0'), thumb]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), Buffer.from([(payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);
  return Buffer.concat([outer.subarray(0, 2), app1, outer.subarray(2)]);
}

function feed(splitter: MjpegSplitter, data: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  for (let k = 0; i < data.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    out.push(...splitter.push(data.subarray(i, i + n)));
    i += n;
  }
  return out;
}

describe('MjpegSplitter', () => {
  it('splits concatenated JPEGs fed one byte at a time (every marker split across chunks)', async () => {
    const frames = [await jpeg(10), await jpeg(120), await jpeg(250)];
    const s = new MjpegSplitter();
    const out = feed(s, Buffer.concat(frames), [1]);
    expect(out).toEqual(frames);
    expect(s.counters).toMatchObject({ frames: 3, garbageBytes: 0 });
    for (const f of out) expect((await sharp(f).metadata()).format).toBe('jpeg');
  });

  it('skips garbage before, between and after frames, including stray FF bytes and a lone FF D9', async () => {
    const a = await jpeg(30);
    const b = await jpeg(200);
    const garbage = Buffer.from([0x00, 0xff, 0x12, 0xff, 0xd9, 0xff, 0xff, 0x7f]);
    const s = new MjpegSplitter();
    const out = feed(s, Buffer.concat([garbage, a, garbage, garbage, b, garbage]), [7, 3, 100, 1]);
    expect(out).toEqual([a, b]);
    expect(s.counters.garbageBytes).toBeGreaterThanOrEqual(garbage.length * 3);
  });

  it('steps over an embedded thumbnail JPEG (its own SOI/EOI) inside APP1', async () => {
    const framed = withThumbnail(await jpeg(60), await jpeg(90, 16, 12));
    expect((await sharp(framed).metadata()).format).toBe('jpeg');
    const s = new MjpegSplitter();
    expect(feed(s, Buffer.concat([framed, framed]), [5])).toEqual([framed, framed]);
  });

  it('passes FF 00 stuffing and RST markers in the entropy-coded data', async () => {
    // A progressive, restart-marked JPEG of noise has plenty of FF 00 and FF D0–D7.
    const noise = Buffer.alloc(96 * 96 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const img = await sharp(noise, { raw: { width: 96, height: 96, channels: 3 } }).jpeg({ quality: 95, progressive: true }).toBuffer();
    expect(img.includes(Buffer.from([0xff, 0x00]))).toBe(true);
    const s = new MjpegSplitter();
    expect(feed(s, Buffer.concat([img, img]), [13, 1, 2])).toEqual([img, img]);
  });

  it('drops a frame over maxFrameBytes and recovers on the next one', async () => {
    const small = await jpeg(10);
    const noise = Buffer.alloc(200 * 200 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2246822519) >>> 24;
    const big = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } }).jpeg({ quality: 100 }).toBuffer();
    const s = new MjpegSplitter({ maxFrameBytes: small.length + 100 });
    expect(big.length).toBeGreaterThan(small.length + 100);
    expect(feed(s, Buffer.concat([small, big, small]), [512])).toEqual([small, small]);
    expect(s.counters.oversize).toBe(1);
  });

  it('drops a truncated frame when the next SOI arrives', async () => {
    const a = await jpeg(10);
    const b = await jpeg(220);
    const s = new MjpegSplitter();
    expect(feed(s, Buffer.concat([a.subarray(0, 40), b]), [64])).toEqual([b]);
    expect(s.counters.malformed).toBe(1);
  });

  it('any chunking of frames and garbage yields exactly the frames (fast-check)', async () => {
    const frames = [await jpeg(1), await jpeg(128), withThumbnail(await jpeg(77), await jpeg(5, 8, 8))];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ maxLength: 20 }).map((g) => Buffer.from(g.filter((x) => x !== 0xff)))), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
        async (parts, sizes) => {
          const s = new MjpegSplitter();
          const stream = Buffer.concat(parts.flatMap(([f, g]) => [g, frames[f]!]));
          expect(feed(s, stream, sizes)).toEqual(parts.map(([f]) => frames[f]));
        },
      ),
      { numRuns: 200 },
    );
  });
});
