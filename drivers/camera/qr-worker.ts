/**
 * ZXing off the main thread: a 640×480 frame takes ~5–15 ms here and more on a Pi; on the main
 * thread that would stall serial input, MQTT and the relay timer. `WorkerQrDetector` runs it in one
 * worker thread; frames are queued and their pixels are transferred, not copied.
 *
 * The worker is started from source text (`eval: true`) that `require`s zxing-wasm's CommonJS build
 * by its resolved path, so the same code runs from TypeScript under vitest and from dist/. It is
 * unref'd while idle (it never keeps the process alive) and restarted if it dies.
 */
import { deviceError, PassgateError } from '../../base/errors.js';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { READER_OPTIONS, ZXING_WASM_PATH, type GreyImage, type QrDetector } from './decode.js';

const ZXING_READER_PATH = createRequire(import.meta.url).resolve('zxing-wasm/reader');

/** Same work as `inlineDetector` (decode.ts): grey → RGBA, ZXing with READER_OPTIONS. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { prepareZXingModule, readBarcodes } = require(${JSON.stringify(ZXING_READER_PATH)});
prepareZXingModule({ overrides: { wasmBinary: readFileSync(${JSON.stringify(ZXING_WASM_PATH)}).buffer }, fireImmediately: true });
const options = ${JSON.stringify(READER_OPTIONS)};
parentPort.on('message', async ({ id, data, width, height }) => {
  try {
    const grey = new Uint8Array(data);
    const n = width * height;
    const rgba = new Uint8ClampedArray(n * 4);
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const v = grey[i];
      rgba[j] = v; rgba[j + 1] = v; rgba[j + 2] = v; rgba[j + 3] = 255;
    }
    const results = await readBarcodes({ data: rgba, width, height, colorSpace: 'srgb' }, options);
    parentPort.postMessage({ id, texts: results.filter((r) => r.isValid).map((r) => r.text) });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve(texts: string[]): void;
  reject(err: Error): void;
}

export class WorkerQrDetector implements QrDetector {
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;
  /** Worker (re)starts, for health reporting. */
  starts = 0;

  detect(image: GreyImage): Promise<string[]> {
    if (this.#closed) return Promise.reject(new PassgateError('DRIVER_CLOSED', 'QR detector closed'));
    let worker: Worker;
    try {
      worker = this.#ensureWorker();
    } catch (err) {
      // A worker that cannot start (a thread or descriptors short): this frame fails, the next retries.
      return Promise.reject(deviceError(err, 'QR worker'));
    }
    const id = this.#nextId++;
    // A private copy whose buffer can be transferred (the caller's may be a view into a pool).
    const copy = new Uint8Array(image.data);
    return new Promise<string[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, data: copy.buffer, width: image.width, height: image.height }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = null;
    this.#failAll(new PassgateError('DRIVER_CLOSED', 'QR detector closed'));
    if (worker) await worker.terminate();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    this.starts++;
    worker.unref();
    worker.on('message', (msg: { id: number; texts?: string[]; error?: string }) => {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (this.#pending.size === 0) worker.unref();
      if (msg.error !== undefined) p.reject(new PassgateError('DEVICE_IO', `ZXing: ${msg.error}`));
      else p.resolve(msg.texts ?? []);
    });
    const died = (err: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(err);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new PassgateError('DEVICE_IO', `QR worker exited (${code})`)));
    this.#worker = worker;
    return worker;
  }

  #failAll(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(err);
  }
}
