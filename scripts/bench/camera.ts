import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeQrImage } from '../../drivers/camera/decode.js';
import { syntheticFrame } from '../../drivers/camera/simulated.js';

/**
 * Camera decoding on this machine, ZXing on the calling thread (the worker adds only a copy and a
 * message per frame):
 * - `png*`: the EU DCC vectors' 2DCODE PNGs (test/fixtures/dgc) of every vector that states
 *   EXPECTEDPICTUREDECODE true, through `decodeQrImage` as `passgate decode-image` runs it; a decode
 *   counts when it yields the vector's PREFIX text.
 * - `noisyFrame*`: 30 synthetic 640×480 camera frames (platform.md §4 setup: a 300-character code,
 *   QR version 13 ECC M at ~4.3 px/module, rotated 6°, contrast lowered, blur 1.2, Gaussian noise
 *   σ 12, JPEG q90); `emptyFrame*`: 30 such frames without a code, the idle state at a gate.
 * Times include sharp's decode; frame generation is outside the timing.
 */
export async function benchCamera(): Promise<{ pngDecodeRate: number; pngMedianMs: number; noisyFrameMedianMs: number; noisyFrameDecodeRate: number; emptyFrameMedianMs: number }> {
  const vectors = loadPictureVectors(fixturesDir());
  if (vectors.length === 0) throw new Error('no DCC vectors with pictures under test/fixtures/dgc');
  for (const v of vectors.slice(0, 3)) await decodeQrImage(v.png); // warm-up (sharp, JIT)

  const pngTimes: number[] = [];
  let pngOk = 0;
  for (const v of vectors) {
    const t0 = performance.now();
    const texts = await decodeQrImage(v.png);
    pngTimes.push(performance.now() - t0);
    if (texts.includes(v.text)) pngOk++;
  }

  const text = `HC1:${'NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH'.repeat(10)}`.slice(0, 300);
  const frames: Buffer[] = [];
  for (let seed = 1; seed <= 30; seed++) frames.push(await syntheticFrame({ text, seed }));
  await decodeQrImage(frames[0]!); // warm-up
  const frameTimes: number[] = [];
  let frameOk = 0;
  for (const frame of frames) {
    const t0 = performance.now();
    const texts = await decodeQrImage(frame);
    frameTimes.push(performance.now() - t0);
    if (texts.includes(text)) frameOk++;
  }

  const emptyTimes: number[] = [];
  for (let seed = 101; seed <= 130; seed++) {
    const frame = await syntheticFrame({ text: null, seed });
    const t0 = performance.now();
    await decodeQrImage(frame);
    emptyTimes.push(performance.now() - t0);
  }

  return {
    emptyFrameMedianMs: round(median(emptyTimes), 1),
    pngDecodeRate: round(pngOk / vectors.length, 3),
    pngMedianMs: round(median(pngTimes), 1),
    noisyFrameMedianMs: round(median(frameTimes), 1),
    noisyFrameDecodeRate: round(frameOk / frames.length, 3),
  };
}

interface PictureVector {
  png: Buffer;
  text: string;
}

function loadPictureVectors(root: string): PictureVector[] {
  const out: PictureVector[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.json') && path.includes('2DCode')) {
        const v = JSON.parse(readFileSync(path, 'utf8')) as {
          PREFIX?: string;
          '2DCODE'?: string | null;
          EXPECTEDRESULTS?: { EXPECTEDPICTUREDECODE?: boolean } | null;
        };
        if (v.EXPECTEDRESULTS?.EXPECTEDPICTUREDECODE === true && v['2DCODE'] && v.PREFIX) {
          out.push({ png: Buffer.from(v['2DCODE'], 'base64'), text: v.PREFIX });
        }
      }
    }
  };
  walk(root);
  return out;
}

/** test/fixtures/dgc of the package this file belongs to (run from scripts/ or dist/scripts/), else of the working directory. */
function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'test', 'fixtures', 'dgc');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'test', 'fixtures', 'dgc');
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
