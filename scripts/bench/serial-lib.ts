/** Helpers shared by the benchmarks that drive real drivers over a socat pty pair. */
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '../../drivers/serial/binding.js';

/** Wire time of a 1295-byte ID-card read reply at 115200 8N1 (10 bits a byte), ms. */
export const ID_READ_WIRE_MS_115200 = (1295 * 10 * 1000) / 115_200;

/** Opens the device side of a pty (where a scanner or reader would sit). */
export async function openDevice(binding: BindingInterface, path: string): Promise<SerialPortStream> {
  const port = new SerialPortStream({ binding, path, baudRate: 115_200, autoOpen: false });
  port.on('error', () => {});
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

export async function closePort(port: SerialPortStream): Promise<void> {
  if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
}

/** Nearest-rank percentile. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
}

/** Milliseconds to the microsecond. */
export function roundMs(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`benchmark: no ${what} within ${ms} ms`)), ms))),
  ]);
}
