/**
 * An in-memory serial cable for the simulators (the demo and the simulated twins), usable at run
 * time where the dev-only `@serialport/binding-mock` is not installed.
 *
 *   SerialPortStream ──binding──▶ VirtualPortBinding ══ cable ══ device: ByteEndpoint ◀── fake device
 *
 * `unplug()` fails the host's pending read with a non-cancel error (what bindings-cpp reports when a
 * USB adapter disappears), so `SerialPortStream` closes with a `DisconnectedError`; opens then fail
 * until `replug()`.
 */
import type { BindingInterface, BindingPortInterface, OpenOptions, PortInfo, PortStatus } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { ByteEndpoint } from './endpoint.js';

class CanceledError extends Error {
  readonly canceled = true;
}

export class VirtualSerialLink {
  readonly binding: BindingInterface;
  readonly device: ByteEndpoint;
  #plugged = true;
  #port: VirtualPortBinding | null = null;
  readonly #deviceListeners = new Set<(chunk: Buffer) => void>();

  constructor(readonly path = '/dev/virtual/ttyV0') {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const link = this;
    this.binding = {
      async list(): Promise<PortInfo[]> {
        if (!link.#plugged) return [];
        return [{ path: link.path, manufacturer: 'passgate virtual', serialNumber: undefined, pnpId: undefined, locationId: undefined, productId: undefined, vendorId: undefined }];
      },
      async open(options: OpenOptions): Promise<BindingPortInterface> {
        await Promise.resolve();
        if (options.path !== link.path || !link.#plugged) {
          throw Object.assign(new Error(`ENOENT: no such file or directory, open '${options.path}'`), { code: 'ENOENT' });
        }
        if (link.#port?.isOpen) throw new Error('Port is locked cannot open');
        link.#port = new VirtualPortBinding(options, (chunk) => link.#toDevice(chunk));
        return link.#port;
      },
    };
    this.device = {
      write: async (data) => {
        await Promise.resolve();
        if (this.#plugged && this.#port?.isOpen) this.#port.receive(Buffer.from(data));
      },
      onData: (listener) => {
        this.#deviceListeners.add(listener);
        return () => void this.#deviceListeners.delete(listener);
      },
    };
  }

  get plugged(): boolean {
    return this.#plugged;
  }

  /** Whether the host side currently has the port open. */
  get hostOpen(): boolean {
    return this.#port?.isOpen ?? false;
  }

  unplug(): void {
    this.#plugged = false;
    this.#port?.fail(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
  }

  replug(): void {
    this.#plugged = true;
  }

  #toDevice(chunk: Buffer): void {
    setImmediate(() => {
      for (const l of [...this.#deviceListeners]) l(chunk);
    });
  }
}

class VirtualPortBinding implements BindingPortInterface {
  readonly openOptions: Required<OpenOptions>;
  isOpen = true;
  #data = Buffer.alloc(0);
  #pending: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #failure: Error | null = null;

  constructor(options: OpenOptions, private readonly toDevice: (chunk: Buffer) => void) {
    this.openOptions = { dataBits: 8, lock: true, stopBits: 1, parity: 'none', rtscts: false, xon: false, xoff: false, xany: false, hupcl: true, ...options } as Required<OpenOptions>;
  }

  receive(chunk: Buffer): void {
    this.#data = Buffer.concat([this.#data, chunk]);
    const p = this.#pending;
    this.#pending = null;
    p?.resolve();
  }

  fail(err: Error): void {
    this.#failure = err;
    const p = this.#pending;
    this.#pending = null;
    p?.reject(err);
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    for (;;) {
      if (!this.isOpen) throw new CanceledError('Read canceled');
      if (this.#failure) throw this.#failure;
      if (this.#data.length > 0) {
        const n = Math.min(length, this.#data.length);
        this.#data.copy(buffer, offset, 0, n);
        this.#data = this.#data.subarray(n);
        return { buffer, bytesRead: n };
      }
      await new Promise<void>((resolve, reject) => (this.#pending = { resolve, reject }));
    }
  }

  async write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) throw new CanceledError('Write canceled');
    if (this.#failure) throw this.#failure;
    this.toDevice(Buffer.from(buffer));
  }

  async close(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.isOpen = false;
    const p = this.#pending;
    this.#pending = null;
    p?.reject(new CanceledError('port is closed'));
  }

  async update(): Promise<void> {}
  async set(): Promise<void> {}
  async get(): Promise<PortStatus> {
    return { cts: false, dsr: false, dcd: false };
  }
  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: this.openOptions.baudRate };
  }
  async flush(): Promise<void> {
    this.#data = Buffer.alloc(0);
  }
  async drain(): Promise<void> {}
}
