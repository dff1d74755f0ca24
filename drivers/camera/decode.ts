/**
 * QR decoding of still images and camera frames. What it does follows the measurements in
 * shared/notes/platform.md §4 (jsQR 1.4, sharp 0.35): jsQR on a raw camera frame fails on sensor
 * noise and is slowest on frames without any code (the normal idle state at a gate); a greyscale +
 * light Gaussian blur (σ = 1.0) pass before jsQR restores decoding and keeps empty frames cheap.
 *
 *   image (PNG/JPEG/…) ─sharp─▶ flatten on white ─▶ greyscale ─▶ [shrink to ≤ 2048 px] ─▶ blur(1.0)
 *     ─▶ raw 8-bit grey ─▶ detector (jsQR, RGBA, inversionAttempts 'dontInvert') ─▶ text | nothing
 *
 * When the blurred pass finds nothing, the unblurred frame is tried (`fallback`, on by default for
 * still images: blur can smear codes of 1–2 px per module). The camera scanner turns that fallback
 * off or rations it, because an extra jsQR pass over a noisy empty frame is what makes idle frames
 * expensive.
 *
 * One code per image: jsQR returns the first code it locates, so the result has at most one text.
 * It is an array so that a detector that finds several can be swapped in without changing callers.
 * `inversionAttempts: 'dontInvert'`: light-on-dark codes are not looked for (half the cost per
 * empty frame); health codes are dark on light.
 */
import sharp from 'sharp';
import jsQRModule from 'jsqr';

type JsQR = typeof jsQRModule.default;
/** jsqr is a CommonJS bundle whose typings declare an ES default export; take the function either way. */
const jsQR: JsQR = (jsQRModule as unknown as { default?: JsQR }).default ?? (jsQRModule as unknown as JsQR);

/** 8-bit greyscale pixels, row-major, one byte per pixel. */
export interface GreyImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Finds a QR code in a grey image: the text of the first one, or null. */
export interface QrDetector {
  detect(image: GreyImage): Promise<string | null>;
  /** Releases threads or other resources; the detector is unusable afterwards. */
  close(): Promise<void>;
}

/** jsQR wants RGBA: the grey value is copied into R, G and B, alpha opaque. */
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

/** jsQR on the calling thread. Synchronous: 15–250 ms per 640×480 frame on a Pi-class CPU. */
export function detectQr(image: GreyImage): string | null {
  const code = jsQR(greyToRgba(image.data, image.width, image.height), image.width, image.height, { inversionAttempts: 'dontInvert' });
  return code ? code.data : null;
}

/** The detector `decodeQrImage` uses unless told otherwise: jsQR on the calling thread. */
export const inlineDetector: QrDetector = {
  detect: (image) => Promise.resolve(detectQr(image)),
  close: () => Promise.resolve(),
};

export interface DecodeOptions {
  /** Where jsQR runs: inline (default) or a `WorkerQrDetector` (qr-worker.ts). */
  detector?: QrDetector;
  /** Try the unblurred image when the blurred one has no code; default true. */
  fallback?: boolean;
  /** Gaussian blur σ of the first pass, default 1.0 (platform.md §4); 0 disables it. */
  blurSigma?: number;
  /** Larger images are shrunk to fit this many pixels per side first, default 2048. */
  maxDimension?: number;
}

/** Decoded images larger than this are refused (a 16-megapixel photo is the most a CLI user needs). */
export const MAX_INPUT_PIXELS = 4096 * 4096;

/**
 * Every QR text found in an encoded image (at most one, see above), `[]` when there is none.
 * Rejects when the buffer is not an image sharp can decode.
 */
export async function decodeQrImage(image: Buffer, options: DecodeOptions = {}): Promise<string[]> {
  const detector = options.detector ?? inlineDetector;
  const sigma = options.blurSigma ?? 1.0;
  const maxDimension = options.maxDimension ?? 2048;
  const first = await detector.detect(await toGrey(image, sigma, maxDimension));
  if (first !== null) return [first];
  if (options.fallback === false || sigma === 0) return [];
  const second = await detector.detect(await toGrey(image, 0, maxDimension));
  return second !== null ? [second] : [];
}

/** Encoded image → 8-bit grey raw pixels, optionally blurred. Exported for the bench and tests. */
export async function toGrey(image: Buffer, blurSigma: number, maxDimension = 2048): Promise<GreyImage> {
  let pipeline = sharp(image, { limitInputPixels: MAX_INPUT_PIXELS })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize({ width: maxDimension, height: maxDimension, fit: 'inside', withoutEnlargement: true });
  // sharp needs σ ≥ 0.3; below that there is nothing to blur.
  if (blurSigma >= 0.3) pipeline = pipeline.blur(blurSigma);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 1) return { data, width: info.width, height: info.height };
  const grey = new Uint8Array(info.width * info.height);
  for (let i = 0, j = 0; i < grey.length; i++, j += info.channels) grey[i] = data[j]!;
  return { data: grey, width: info.width, height: info.height };
}
