/**
 * The camera's simulated twin: a frame source fed with given images, and a generator of synthetic
 * camera frames (a QR code, rotated, low-contrast, blurred and with Gaussian sensor noise, in a
 * grey 640×480 frame) as in the measurements of shared/notes/platform.md §4. Used by tests, the
 * bench and the demo; nothing here touches hardware.
 */
import sharp, { type OverlayOptions } from 'sharp';
import QRCode from 'qrcode';
import type { FrameSource } from './source.js';

export interface SyntheticFrameOptions {
  /** Text of the QR code; null for a frame without a code. */
  text: string | null;
  width?: number;
  height?: number;
  /** Width of the QR image before rotation, px (default 330: ~4.3 px per module for version 13). */
  codeWidth?: number;
  rotateDeg?: number;
  /** `linear(a, b)` applied to the code: a < 1 lowers its contrast (default 0.61, 45). */
  contrast?: readonly [number, number];
  /** Optical blur σ, default 1.2. */
  blurSigma?: number;
  /** Sensor noise standard deviation in grey levels, default 12; 0 for none. */
  noiseSd?: number;
  /** PRNG seed for the noise (frames are reproducible). */
  seed?: number;
  /** Encoding of the frame, default `jpeg` (quality 90), as an MJPEG camera delivers it. */
  format?: 'jpeg' | 'png';
}

/** An encoded synthetic camera frame. */
export async function syntheticFrame(o: SyntheticFrameOptions): Promise<Buffer> {
  const width = o.width ?? 640;
  const height = o.height ?? 480;
  const layers: OverlayOptions[] = [];
  if (o.text !== null) {
    const png = await QRCode.toBuffer(o.text, { errorCorrectionLevel: 'M', margin: 4, width: o.codeWidth ?? 330 });
    const [a, b] = o.contrast ?? [0.61, 45];
    const code = await sharp(png)
      .rotate(o.rotateDeg ?? 6, { background: '#ffffff' })
      .linear(a, b)
      .png()
      .toBuffer({ resolveWithObject: true });
    layers.push({
      input: code.data,
      left: Math.max(0, Math.round((width - code.info.width) / 2)),
      top: Math.max(0, Math.round((height - code.info.height) / 2)),
    });
  }
  const base = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .png()
    .toBuffer();
  const sigma = o.blurSigma ?? 1.2;
  let pipeline = sharp(base).composite(layers).greyscale();
  if (sigma >= 0.3) pipeline = pipeline.blur(sigma);
  const { data, info } = await pipeline.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  const grey = info.channels === 1 ? data : firstChannel(data, info.channels);
  addNoise(grey, o.noiseSd ?? 12, o.seed ?? 1);
  const raw = sharp(grey, { raw: { width: info.width, height: info.height, channels: 1 } });
  return (o.format ?? 'jpeg') === 'png' ? raw.png().toBuffer() : raw.jpeg({ quality: 90 }).toBuffer();
}

function firstChannel(data: Buffer, channels: number): Buffer {
  const out = Buffer.alloc(data.length / channels);
  for (let i = 0, j = 0; i < out.length; i++, j += channels) out[i] = data[j]!;
  return out;
}

/** Adds N(0, sd²) to every pixel, clamped; deterministic for a seed (mulberry32 + Box–Muller). */
function addNoise(pixels: Uint8Array, sd: number, seed: number): void {
  if (sd <= 0) return;
  let s = seed >>> 0;
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < pixels.length; i += 2) {
    const u = Math.max(random(), 1e-12);
    const v = random();
    const r = sd * Math.sqrt(-2 * Math.log(u));
    pixels[i] = clamp(pixels[i]! + r * Math.cos(2 * Math.PI * v));
    if (i + 1 < pixels.length) pixels[i + 1] = clamp(pixels[i + 1]! + r * Math.sin(2 * Math.PI * v));
  }
}

const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));

/**
 * A frame source that yields the images it is given: up front, and later through `push()`; with
 * `intervalMs` it paces them like a camera. Ends after `end()` (or at once when built with
 * `end: true`) once everything is delivered; `loop` repeats the initial images until closed.
 */
export class SimulatedFrameSource implements FrameSource {
  readonly #queue: Buffer[] = [];
  readonly #initial: Buffer[];
  readonly #intervalMs: number;
  readonly #loop: boolean;
  #ended: boolean;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(images: Buffer[] = [], options: { intervalMs?: number; loop?: boolean; end?: boolean } = {}) {
    this.#initial = [...images];
    this.#queue.push(...images);
    this.#intervalMs = options.intervalMs ?? 0;
    this.#loop = options.loop ?? false;
    this.#ended = options.end ?? false;
  }

  push(image: Buffer): void {
    this.#queue.push(image);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *frames(): AsyncGenerator<Buffer> {
    while (!this.#closed) {
      if (this.#queue.length === 0 && this.#loop && this.#initial.length > 0) this.#queue.push(...this.#initial);
      const next = this.#queue.shift();
      if (next) {
        if (this.#intervalMs > 0) await sleep(this.#intervalMs);
        if (this.#closed) return;
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    return Promise.resolve();
  }

  health(): Record<string, number | string | null> {
    return { queued: this.#queue.length };
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
