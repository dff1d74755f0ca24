/**
 * Two transports for the same serial suites, the way node-serialport runs its integration tests on
 * the mock and on real hardware: `@serialport/binding-mock` in process, and a socat pty pair with
 * the real bindings-cpp binding on both ends. Each gives the driver a `binding` + `path`, and the
 * test a `device` endpoint (the far end of the cable) plus `unplug()`/`replug()`.
 */
import { createRequire } from 'node:module';
import type { MockBindingInterface, MockPortBinding } from '@serialport/binding-mock' with { 'resolution-mode': 'require' };
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface, OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { ByteEndpoint } from '../../../drivers/serial/endpoint.js';
import { loadSystemSerialBinding } from '../../../drivers/serial/binding.js';
import { PtyPair, socatAvailable } from '../../../drivers/serial/pty-pair.js';

// @serialport/binding-mock's `exports` map carries no types for ESM importers; load its CJS build.
export const MockBinding = (createRequire(import.meta.url)('@serialport/binding-mock') as { MockBinding: MockBindingInterface }).MockBinding;

export interface SerialTransport {
  readonly kind: 'mock' | 'pty';
  readonly binding: BindingInterface;
  readonly path: string;
  readonly device: ByteEndpoint;
  /** Everything the host wrote since setup (the mock binding's `record`, or bytes seen on the pty). */
  written(): Buffer;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  dispose(): Promise<void>;
}

export const TRANSPORT_KINDS = ['mock', 'pty'] as const;

export function requireSocat(): void {
  if (!socatAvailable()) throw new Error('socat is needed for the pty suites: apt-get install -y socat');
}

export async function createTransport(kind: 'mock' | 'pty'): Promise<SerialTransport> {
  return kind === 'mock' ? createMockTransport() : createPtyTransport();
}

let mockSeq = 0;

function createMockTransport(): SerialTransport {
  const path = `/dev/mock/ttyMOCK${++mockSeq}`;
  MockBinding.createPort(path, { record: true });
  let current: MockPortBinding | null = null;
  let unplugError: ((e: Error) => void) | null = null;
  let recorded = Buffer.alloc(0);
  const listeners = new Set<(chunk: Buffer) => void>();

  // Wraps each opened MockPortBinding: host writes reach the device listeners, and `unplug` can fail
  // the pending read with a non-cancel error as a vanished USB adapter does.
  const binding: BindingInterface = {
    list: () => MockBinding.list(),
    async open(options: OpenOptions) {
      const port = (await MockBinding.open(options)) as MockPortBinding;
      current = port;
      const unplugged = new Promise<never>((_, reject) => (unplugError = reject));
      unplugged.catch(() => {});
      const read = port.read.bind(port);
      const write = port.write.bind(port);
      port.read = (buffer, offset, length) => Promise.race([read(buffer, offset, length), unplugged]);
      port.write = async (buffer) => {
        await write(buffer);
        recorded = Buffer.concat([recorded, buffer]);
        const copy = Buffer.from(buffer);
        setImmediate(() => listeners.forEach((l) => l(copy)));
      };
      return port;
    },
  };
  return {
    kind: 'mock',
    binding,
    path,
    device: {
      async write(data) {
        await Promise.resolve();
        if (current?.isOpen) current.emitData(Buffer.from(data));
      },
      onData(listener) {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    },
    written: () => recorded,
    async unplug() {
      MockBinding.reset(); // the port vanishes: reopening fails until replug
      unplugError?.(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    },
    async replug() {
      MockBinding.createPort(path, { record: true });
    },
    async dispose() {
      if (current?.isOpen) await current.close().catch(() => {});
      MockBinding.reset();
    },
  };
}

async function createPtyTransport(): Promise<SerialTransport> {
  requireSocat();
  const pair = new PtyPair();
  await pair.start();
  const binding = await loadSystemSerialBinding();
  const listeners = new Set<(chunk: Buffer) => void>();
  let recorded = Buffer.alloc(0);
  let device: SerialPortStream | null = null;

  const openDevice = async (): Promise<void> => {
    const port = new SerialPortStream({ binding, path: pair.b, baudRate: 115200, autoOpen: false });
    port.on('error', () => {});
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    port.on('data', (chunk: Buffer) => {
      recorded = Buffer.concat([recorded, chunk]);
      listeners.forEach((l) => l(chunk));
    });
    device = port;
  };
  const closeDevice = async (): Promise<void> => {
    const port = device;
    device = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  };
  await openDevice();

  return {
    kind: 'pty',
    binding,
    path: pair.a,
    device: {
      write: (data) =>
        new Promise<void>((resolve, reject) => {
          if (!device?.isOpen) return resolve();
          device.write(Buffer.from(data), (err) => (err ? reject(err) : resolve()));
        }),
      onData(listener) {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    },
    written: () => recorded,
    async unplug() {
      await pair.stop();
      await closeDevice();
    },
    async replug() {
      await pair.start();
      await openDevice();
    },
    async dispose() {
      await closeDevice();
      await pair.dispose();
    },
  };
}
