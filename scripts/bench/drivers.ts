/**
 * Driver latencies over a socat pty pair with the real serialport binding (needs `socat`):
 *
 * - ptyLine: a code line written on the device side → the `SerialScanner`'s `scan` event.
 * - idFrame: the last byte of a `30 01` read reply (1295 bytes, written by the fake SAM reader) →
 *   the `IdCardReader`'s `scan` event.
 *
 * A pty moves bytes at memory speed; a real UART adds the wire time, reported beside as a floor:
 * 1295 bytes × 10 bits / 115200 baud. The relay side is measured elsewhere.
 */
import { ID_READ_WIRE_MS_115200, closePort, openDevice, percentile, roundMs, withTimeout } from './serial-lib.js';
import type { SerialPortStream } from '@serialport/stream';
import { FakeSamReader } from '../../drivers/idcard/fake-reader.js';
import { IdCardReader } from '../../drivers/idcard/reader.js';
import { loadSystemSerialBinding } from '../../drivers/serial/binding.js';
import { streamEndpoint } from '../../drivers/serial/endpoint.js';
import { PtyPair } from '../../drivers/serial/pty-pair.js';
import { SerialScanner } from '../../drivers/serial-scanner/scanner.js';
import type { BindingInterface } from '../../drivers/serial/binding.js';

export interface DriverBench {
  ptyLineToScanP50Ms: number;
  ptyLineToScanP99Ms: number;
  idFrameToScanP50Ms: number;
  idFrameToScanP99Ms: number;
  idReadWireMs115200: number;
}

export async function benchDrivers(options: { lines?: number; cards?: number } = {}): Promise<DriverBench> {
  const binding = await loadSystemSerialBinding();
  const line = await benchLines(binding, options.lines ?? 500);
  const id = await benchIdCard(binding, options.cards ?? 100);
  return {
    ptyLineToScanP50Ms: roundMs(percentile(line, 0.5)),
    ptyLineToScanP99Ms: roundMs(percentile(line, 0.99)),
    idFrameToScanP50Ms: roundMs(percentile(id, 0.5)),
    idFrameToScanP99Ms: roundMs(percentile(id, 0.99)),
    idReadWireMs115200: roundMs(ID_READ_WIRE_MS_115200),
  };
}

async function benchLines(binding: BindingInterface, count: number): Promise<number[]> {
  const pair = new PtyPair();
  await pair.start();
  const scanner = new SerialScanner({ binding, path: pair.a, presenceCheckMs: 0 });
  let device: SerialPortStream | null = null;
  try {
    await scanner.start();
    device = await openDevice(binding, pair.b);
    const code = Buffer.from(`]Q1HC1:${'6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA.A5:S9MKN02/6XRWGUV12BREXI4'.repeat(2)}\r\n`);
    const samples: number[] = [];
    for (let i = 0; i < count + 50; i++) {
      const got = new Promise<number>((resolve) => scanner.once('scan', (_s, meta) => resolve(meta.atMs)));
      const t0 = performance.now();
      device.write(code);
      const t1 = await withTimeout(got, 2000, 'line scan');
      if (i >= 50) samples.push(t1 - t0); // first 50: warm-up
    }
    return samples;
  } finally {
    await scanner.stop();
    if (device) await closePort(device);
    await pair.dispose();
  }
}

async function benchIdCard(binding: BindingInterface, count: number): Promise<number[]> {
  const pair = new PtyPair();
  await pair.start();
  const reader = new IdCardReader({ binding, path: pair.a, pollIntervalMs: 5, absentPolls: 1, repeatHoldMs: 0, checkSamOnOpen: false, presenceCheckMs: 0 });
  let device: SerialPortStream | null = null;
  let fake: FakeSamReader | null = null;
  try {
    device = await openDevice(binding, pair.b);
    fake = new FakeSamReader(streamEndpoint(device), { splitLastByte: true });
    let lastByteAtMs = 0;
    fake.on('reply', (r) => {
      if (r.command === 'readText') lastByteAtMs = r.lastByteAtMs;
    });
    await reader.start();
    const samples: number[] = [];
    const card = { name: '测试', idNumber: '11010519491231002X' };
    for (let i = 0; i < count + 10; i++) {
      const got = new Promise<number>((resolve) => reader.once('scan', (_s, meta) => resolve(meta.atMs)));
      fake.present(card);
      const t = await withTimeout(got, 5000, 'card scan');
      if (i >= 10) samples.push(t - lastByteAtMs);
      fake.remove();
      const finds = fake.requests.filter((r) => r === 'find').length;
      while (fake.requests.filter((r) => r === 'find').length < finds + 3) await new Promise((r) => setTimeout(r, 2));
    }
    return samples;
  } finally {
    await reader.stop();
    fake?.close();
    if (device) await closePort(device);
    await pair.dispose();
  }
}

