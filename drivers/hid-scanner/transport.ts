/**
 * HID transports. `HidScanner` talks to `HidTransport` only; `NodeHidTransport` wraps node-hid
 * (loaded lazily: it needs `libusb-1.0.so.0` at run time, platform.md §1.3, and a missing library
 * must be a driver error in health(), not a crash at import), `FakeHidTransport` replays reports.
 */
import { TypedEmitter } from '../common/emitter.js';
import { PassgateError } from '../../base/errors.js';

export interface HidDevice {
  on(event: 'data', listener: (report: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void | Promise<void>;
}

export interface HidTransport {
  /** Opens the scanner by vendor/product id (reconnects reopen the same ids). Throws if absent. */
  open(vendorId: number, productId: number): HidDevice | Promise<HidDevice>;
}

type NodeHid = typeof import('node-hid');

export interface NodeHidTransportOptions {
  /**
   * Open the interface with this usage page (0x8C for HID-POS) among the device's interfaces; without
   * it the first interface matching vendor/product is opened. Enumerating costs a USB scan (node-hid
   * README), which only happens on (re)connects.
   */
  usagePage?: number;
  /** With `usagePage`: also match the usage (2 = barcode scanner). */
  usage?: number;
  /** node-hid backend: `hidraw` (default on Linux) or `libusb`. */
  driverType?: 'hidraw' | 'libusb';
  /** macOS only in node-hid; harmless elsewhere. */
  nonExclusive?: boolean;
  /** Loader override (tests); default `import('node-hid')`. */
  load?: () => Promise<NodeHid>;
}

export class NodeHidTransport implements HidTransport {
  readonly #options: NodeHidTransportOptions;
  #loading: Promise<NodeHid> | null = null;

  constructor(options: NodeHidTransportOptions = {}) {
    this.#options = options;
  }

  async open(vendorId: number, productId: number): Promise<HidDevice> {
    const hid = await this.#load();
    const o = this.#options;
    if (o.driverType) hid.setDriverType(o.driverType);
    const openOptions = o.nonExclusive ? { nonExclusive: true } : undefined;
    if (o.usagePage === undefined) return hid.HIDAsync.open(vendorId, productId, openOptions);
    const devices = await hid.devicesAsync(vendorId, productId);
    const match = devices.find((d) => d.usagePage === o.usagePage && (o.usage === undefined || d.usage === o.usage) && d.path);
    if (!match?.path) {
      throw new PassgateError('DEVICE_NOT_FOUND', `no HID interface with usage page 0x${o.usagePage.toString(16)} on ${hex4(vendorId)}:${hex4(productId)}`);
    }
    return hid.HIDAsync.open(match.path, openOptions);
  }

  #load(): Promise<NodeHid> {
    if (!this.#loading) {
      const load = this.#options.load ?? (async () => {
        const mod = (await import('node-hid')) as NodeHid & { default?: NodeHid };
        return mod.default ?? mod;
      });
      this.#loading = load().catch((err: unknown) => {
        this.#loading = null; // try again on the next reconnect
        throw err;
      });
    }
    return this.#loading;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** A fake device: `send()` delivers a report, `fail()` an error (as node-hid does on unplug). */
export class FakeHidDevice extends TypedEmitter<{ data: [report: Buffer]; error: [err: Error] }> {
  closed = false;

  send(report: Uint8Array): void {
    if (!this.closed) this.emit('data', Buffer.from(report));
  }

  fail(err: Error): void {
    if (!this.closed) this.emit('error', err);
  }

  close(): void {
    this.closed = true;
  }
}

/** Replays recorded reports into whichever device the scanner has open; can unplug and replug. */
export class FakeHidTransport implements HidTransport {
  plugged = true;
  opens = 0;
  current: FakeHidDevice | null = null;

  constructor(readonly vendorId = 0x05e0, readonly productId = 0x1200) {}

  async open(vendorId: number, productId: number): Promise<HidDevice> {
    await Promise.resolve();
    if (!this.plugged || vendorId !== this.vendorId || productId !== this.productId) {
      throw new Error(`cannot open device with vendor id 0x${hex4(vendorId)} and product id 0x${hex4(productId)}`);
    }
    this.opens++;
    this.current = new FakeHidDevice();
    return this.current;
  }

  /** Delivers reports one per tick, as USB interrupt transfers arrive. */
  async send(reports: Iterable<Uint8Array>): Promise<void> {
    for (const r of reports) {
      this.current?.send(r);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  unplug(): void {
    this.plugged = false;
    this.current?.fail(new Error('could not read from HID device'));
  }

  replug(): void {
    this.plugged = true;
  }
}
