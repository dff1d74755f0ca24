/**
 * QR decoding of still images and camera frames, with ZXing-C++ compiled to WebAssembly
 * (zxing-wasm). sharp normalises whatever arrives; ZXing finds every code in it:
 *
 *   image (PNG/JPEG/…) ─sharp─▶ flatten on white ─▶ greyscale ─▶ [shrink to ≤ 2048 px] ─▶ raw 8-bit
 *     grey ─▶ detector (ZXing: QR codes only, tryHarder) ─▶ every text found
 *
 * Why ZXing and not jsQR: on the noisy 640×480 frames of platform.md §4, jsQR needs a blur pre-pass
 * and took ~42 ms per frame here (over the 25 ms target); ZXing reads the same frames unblurred in
 * ~15 ms, empty frames in ~7 ms, and the EU test-vector PNGs in ~3 ms instead of ~25 ms. It also
 * returns every code in an image, where jsQR stops at the first.
 */
import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { prepareZXingModule, readBarcodes, type ReaderOptions } from 'zxing-wasm/reader';

/** 8-bit greyscale pixels, row-major, one byte per pixel. */
export interface GreyImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Finds the QR codes in a grey image: their texts, in the order ZXing reports them. */
export interface QrDetector {
  detect(image: GreyImage): Promise<string[]>;
  /** Releases threads or other resources; the detector is unusable afterwards. */
  close(): Promise<void>;
}

/** Resolved path of ZXing's reader binary, shipped inside the npm package (nothing is fetched). */
export const ZXING_WASM_PATH = createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm');

/** QR only (health codes are QR): fewer formats, less work per frame. */
export const READER_OPTIONS: ReaderOptions = { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 8 };

let prepared = false;
/** zxing-wasm would fetch its binary from a CDN by default; a gate is offline, so hand it the file. */
function prepare(): void {
  if (prepared) return;
  prepareZXingModule({ overrides: { wasmBinary: readFileSync(ZXING_WASM_PATH).buffer as ArrayBuffer }, fireImmediately: true });
  prepared = true;
}

/** ZXing wants RGBA image data: the grey value is copied into R, G and B, alpha opaque. */
export function greyToRgba(grey: Uint8Array, width: number, height: number): Uint8ClampedArray {
  const n = width * height;
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const v = grey[i]!;
    rgba[j] = v;
    rgba[j + 1] = v;
    rgba[j + 2] = v;
    rgba[j + 3] = 255;
  }
  return rgba;
}

/** ZXing on the calling thread: blocks it ~5–15 ms per 640×480 frame (the camera uses a worker). */
export const inlineDetector: QrDetector = {
  async detect(image) {
    prepare();
    const imageData = { data: greyToRgba(image.data, image.width, image.height), width: image.width, height: image.height, colorSpace: 'srgb' };
    const results = await readBarcodes(imageData as unknown as Parameters<typeof readBarcodes>[0], READER_OPTIONS);
    return results.filter((r) => r.isValid).map((r) => r.text);
  },
  close: () => Promise.resolve(),
};

export interface DecodeOptions {
  /** Where ZXing runs: inline (default) or a `WorkerQrDetector` (qr-worker.ts). */
  detector?: QrDetector;
  /** Larger images are shrunk to fit this many pixels per side first, default 2048. */
  maxDimension?: number;
}

/** Decoded images larger than this are refused (a 16-megapixel photo is the most a CLI user needs). */
export const MAX_INPUT_PIXELS = 4096 * 4096;

/** Every QR text found in an encoded image, `[]` when there is none. Rejects when sharp cannot decode it. */
export async function decodeQrImage(image: Buffer, options: DecodeOptions = {}): Promise<string[]> {
  const detector = options.detector ?? inlineDetector;
  return detector.detect(await toGrey(image, options.maxDimension ?? 2048));
}

/** Encoded image → 8-bit grey raw pixels. */
export async function toGrey(image: Buffer, maxDimension = 2048): Promise<GreyImage> {
  const { data, info } = await sharp(image, { limitInputPixels: MAX_INPUT_PIXELS })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize({ width: maxDimension, height: maxDimension, fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels === 1) return { data, width: info.width, height: info.height };
  const grey = new Uint8Array(info.width * info.height);
  for (let i = 0, j = 0; i < grey.length; i++, j += info.channels) grey[i] = data[j]!;
  return { data: grey, width: info.width, height: info.height };
}
