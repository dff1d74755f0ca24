/**
 * `HidScanner`: a USB HID code scanner in keyboard-emulation or HID-POS mode, opened by vendor and
 * product id through a `HidTransport`, decoded from raw reports (keyboard.ts / hidpos.ts), and
 * reopened with capped exponential backoff when the device errors (node-hid reports an unplug as an
 * `error` event) or cannot be opened (absent, no permission, libusb missing).
 *
 * Keyboard mode is the fallback (hardware.md §2.2: the console also receives the keys unless the
 * evdev device is grabbed); prefer HID-POS or a serial mode where the scanner offers one.
 */
import { Supervisor } from '../common/supervisor.js';
import { checkInteger } from '../../base/check.js';
import type { CodeResult } from '../common/code-text.js';
import { TypedEmitter } from '../common/emitter.js';
import { errorText, SILENT } from '../../base/log.js';
import { PassgateError } from '../../base/errors.js';
import type { BackoffOptions, DriverHealth, Logger, InputDriver, InputDriverEvents } from '../types.js';
import type { AimPolicy } from '../common/code-text.js';
import { HidPosDecoder } from './hidpos.js';
import { KeyboardDecoder } from './keyboard.js';
import type { KeyboardLayout } from './layouts.js';
import type { HidDevice, HidTransport } from './transport.js';

export interface HidScannerOptions extends AimPolicy {
  /** `new NodeHidTransport({...})` on the Pi, `FakeHidTransport` in tests. Required. */
  transport: HidTransport;
  /** USB vendor id, [0…0xFFFF]. Required. */
  vendorId: number;
  /** USB product id, [0…0xFFFF]. Required. */
  productId: number;
  /** `keyboard` (boot reports) or `hidpos` (usage page 0x8C). Required. */
  mode: 'keyboard' | 'hidpos';
  /** Keyboard mode: the layout the scanner types for, default `us`. */
  layout?: 'us' | 'de' | 'fr' | KeyboardLayout;
  /** Report-ID byte in front of each report, or null if absent. Default: keyboard null, HID-POS 2. */
  reportId?: number | null;
  /** HID-POS: the length byte counts the AIM bytes too; default false. */
  lengthIncludesAim?: boolean;
  /** Keyboard mode: a code with no Enter after this long idle is dropped as unreadable, [0…60000] ms, 0 = never, default 1000. */
  idleFlushMs?: number;
  /** Longest code in bytes, default 4096. */
  maxLength?: number;
  /** Reopen backoff; defaults 250 ms doubling to 10 s, ±20 %. */
  backoff?: BackoffOptions;
  /** Default `hid-scanner`. */
  name?: string;
  logger?: Logger;
  random?: () => number;
}

export interface HidScannerCounters {
  scans: number;
  unreadable: number;
  reports: number;
  opens: number;
  openFailures: number;
  disconnects: number;
  [counter: string]: number;
}

interface Decoder {
  push(report: Uint8Array): CodeResult[];
  flush(): CodeResult[];
  reset(): void;
}

export class HidScanner extends TypedEmitter<InputDriverEvents> implements InputDriver<HidScannerCounters> {
  readonly name: string;
  readonly vendorId: number;
  readonly productId: number;
  readonly #transport: HidTransport;
  readonly #decoder: Decoder;
  readonly #sup: Supervisor;
  readonly #idleFlushMs: number;
  readonly #log: Logger;
  readonly #counts: HidScannerCounters = { scans: 0, unreadable: 0, reports: 0, opens: 0, openFailures: 0, disconnects: 0 };
  #lastError: string | undefined;
  #device: HidDevice | null = null;
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(options: HidScannerOptions) {
    super();
    if (!options.transport || typeof options.transport.open !== 'function') {
      throw new PassgateError('BAD_CONFIG', 'an HID transport is required (transport.open is not a function)');
    }
    if (options.mode !== 'keyboard' && options.mode !== 'hidpos') {
      throw new PassgateError('BAD_CONFIG', `mode must be keyboard or hidpos, got ${String(options.mode)}`);
    }
    this.name = options.name ?? 'hid-scanner';
    this.vendorId = checkInteger('vendorId', options.vendorId, 0, 0xffff);
    this.productId = checkInteger('productId', options.productId, 0, 0xffff);
    this.#transport = options.transport;
    this.#log = options.logger ?? SILENT;
    this.#sup = new Supervisor({ driver: this.name, what: 'HID scanner open', firstFailure: 'error', log: this.#log, backoff: options.backoff, random: options.random, onState: (state) => this.emit('state', state) });
    this.#idleFlushMs = checkInteger('idleFlushMs', options.idleFlushMs ?? 1000, 0, 60_000);
    const aim = { acceptAim: options.acceptAim, requireAim: options.requireAim };
    this.#decoder =
      options.mode === 'keyboard'
        ? new KeyboardDecoder({ ...aim, layout: options.layout, reportId: options.reportId ?? null, maxLength: options.maxLength })
        : new HidPosDecoder({ ...aim, reportId: options.reportId === undefined ? 2 : options.reportId, lengthIncludesAim: options.lengthIncludesAim, maxLength: options.maxLength });
  }

  async start(): Promise<void> {
    await this.#sup.begin(() => this.#attempt());
  }

  async stop(): Promise<void> {
    await this.#sup.end(async () => {
      if (this.#idleTimer) clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
      await this.#closeDevice();
      this.#decoder.reset();
    });
  }

  health(): DriverHealth<HidScannerCounters> {
    const h: DriverHealth<HidScannerCounters> = { state: this.#sup.state, counters: { ...this.#counts } };
    if (this.#lastError !== undefined) h.lastError = this.#lastError;
    return h;
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.#log.error({ driver: this.name, event, err: errorText(err) }, 'scan listener threw');
  }

  async #attempt(): Promise<void> {
    const run = this.#sup.run;
    if (!this.#sup.isCurrent(run)) return;
    let device: HidDevice;
    try {
      device = await this.#transport.open(this.vendorId, this.productId);
    } catch (err) {
      if (!this.#sup.isCurrent(run)) return;
      this.#counts.openFailures++;
      this.#lastError = `open ${hex4(this.vendorId)}:${hex4(this.productId)}: ${errorText(err)}`;
      this.#sup.retryAfter(err, () => void this.#attempt());
      return;
    }
    if (!this.#sup.isCurrent(run)) {
      await Promise.resolve(device.close()).catch(() => {});
      return;
    }
    this.#device = device;
    this.#sup.connected();
    this.#counts.opens++;
    this.#decoder.reset();
    device.on('data', (report) => {
      if (this.#device === device) this.#onReport(report);
    });
    device.on('error', (err) => {
      if (this.#device === device) void this.#onDeviceError(err);
    });
    this.#log.info({ driver: this.name, vendorId: hex4(this.vendorId), productId: hex4(this.productId) }, 'HID scanner open');
    this.#sup.setState('connected');
  }

  async #onDeviceError(err: Error): Promise<void> {
    this.#counts.disconnects++;
    this.#lastError = `device: ${errorText(err)}`;
    this.#log.warn({ driver: this.name, err: errorText(err) }, 'HID scanner lost; reconnecting');
    await this.#closeDevice();
    this.#emitAll(this.#decoder.flush());
    if (!this.#sup.running) return;
    this.#sup.setState('reconnecting');
    this.#sup.retryLater(() => void this.#attempt());
  }

  async #closeDevice(): Promise<void> {
    const device = this.#device;
    this.#device = null;
    if (!device) return;
    try {
      await device.close();
    } catch (err) {
      this.#log.debug({ driver: this.name, err: errorText(err) }, 'HID close failed');
    }
  }

  #onReport(report: Buffer): void {
    this.#counts.reports++;
    this.#emitAll(this.#decoder.push(report));
    if (this.#idleFlushMs > 0 && this.#decoder instanceof KeyboardDecoder) {
      if (this.#idleTimer) clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
      if (this.#decoder.pending > 0) {
        this.#idleTimer = setTimeout(() => {
          this.#idleTimer = null;
          this.#emitAll(this.#decoder.flush());
        }, this.#idleFlushMs);
      }
    }
  }

  #emitAll(results: CodeResult[]): void {
    for (const r of results) {
      const meta = { driver: this.name, atMs: performance.now(), ...(r.aim ? { aim: r.aim } : {}) };
      if (r.ok) {
        this.#counts.scans++;
        this.emit('scan', { input: 'qr', text: r.text }, meta);
      } else {
        this.#counts.unreadable++;
        this.#log.debug({ driver: this.name, reason: r.unreadable }, 'unreadable code');
        this.emit('scan', { input: 'qr', unreadable: r.unreadable }, meta);
      }
    }
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
