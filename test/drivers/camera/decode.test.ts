import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import QRCode from 'qrcode';
import { decodeQrImage, toGrey } from '../../../drivers/camera/decode.js';
import { WorkerQrDetector } from '../../../drivers/camera/qr-worker.js';
import { syntheticFrame } from '../../../drivers/camera/simulated.js';

/** About the length of an HP1 code: a version-13 QR at ECC M, like platform.md §4. */
const TEXT = `HC1:${'NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH'.repeat(9)}`.slice(0, 300);

const worker = new WorkerQrDetector();
afterAll(() => worker.close());

describe('decodeQrImage', () => {
  it('decodes a qrcode PNG composited into a noisy, blurred, rotated, low-contrast 640×480 frame', async () => {
    for (const seed of [1, 2, 3]) {
      const frame = await syntheticFrame({ text: TEXT, seed });
      expect((await sharp(frame).metadata()).width).toBe(640);
      expect(await decodeQrImage(frame, ), `seed ${seed}`).toEqual([TEXT]);
    }
  });

  it('builds that frame step by step the same way: toBuffer PNG → sharp composite → noise', async () => {
    const png = await QRCode.toBuffer(TEXT, { errorCorrectionLevel: 'M', margin: 4, width: 330 });
    const noise = Buffer.alloc(640 * 480);
    for (let i = 0; i < noise.length; i++) noise[i] = 128 + ((i * 2654435761) >>> 28) - 8; // ±8 grey levels
    const frame = await sharp(noise, { raw: { width: 640, height: 480, channels: 1 } })
      .composite([{ input: png, left: 155, top: 75, blend: 'multiply' }])
      .jpeg({ quality: 85 })
      .toBuffer();
    expect(await decodeQrImage(frame)).toEqual([TEXT]);
  });

  it('returns [] for frames without a code, noisy or clean', async () => {
    expect(await decodeQrImage(await syntheticFrame({ text: null, seed: 7 }))).toEqual([]);
    expect(await decodeQrImage(await syntheticFrame({ text: null, noiseSd: 0 }))).toEqual([]);
  });

  it('decodes a plain qrcode PNG, one on a transparent background, and the same in the worker thread', async () => {
    const png = await QRCode.toBuffer(TEXT, { margin: 2, width: 260 });
    expect(await decodeQrImage(png)).toEqual([TEXT]);
    expect(await decodeQrImage(png, { detector: worker })).toEqual([TEXT]);
    const transparent = await QRCode.toBuffer(TEXT, { margin: 2, width: 260, color: { dark: '#000000ff', light: '#00000000' } });
    expect(await decodeQrImage(transparent)).toEqual([TEXT]);
  });

  it('decodes a code with 2 px modules (regression: a blur pre-pass smeared these)', async () => {
    const small = await QRCode.toBuffer(TEXT, { margin: 2, scale: 2 });
    expect(await decodeQrImage(small)).toEqual([TEXT]);
  });

  it('finds every code in an image, one text each (passgate decode-image prints a line per code)', async () => {
    const other = 'HP1:SECOND-CODE-IN-THE-SAME-PICTURE';
    const [a, b] = await Promise.all([TEXT, other].map((t) => QRCode.toBuffer(t, { margin: 4, width: 300 })));
    const both = await sharp({ create: { width: 640, height: 320, channels: 3, background: '#ffffff' } })
      .composite([
        { input: a!, left: 10, top: 10 },
        { input: b!, left: 330, top: 10 },
      ])
      .png()
      .toBuffer();
    expect((await decodeQrImage(both)).sort()).toEqual([TEXT, other].sort());
  });

  it('rejects a buffer that is not an image', async () => {
    await expect(decodeQrImage(Buffer.from('not an image at all'))).rejects.toThrow();
  });

  it('the worker detector survives being used after many frames and reports nothing for an empty frame', async () => {
    const empty = await toGrey(await syntheticFrame({ text: null }));
    const results = await Promise.all([1, 2, 3].map(() => worker.detect(empty)));
    expect(results).toEqual([[], [], []]);
    expect(worker.starts).toBe(1);
  });
});
