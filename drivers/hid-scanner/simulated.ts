/**
 * The HID scanner's simulated twin: a real `HidScanner` on a `FakeHidTransport`; `present(text)`
 * sends the reports a scanner in the configured mode and layout would send.
 */
import { encodeHidPosReports } from './hidpos.js';
import { encodeKeyboardReports } from './keyboard.js';
import { HidScanner, type HidScannerOptions } from './scanner.js';
import { FakeHidTransport } from './transport.js';

export interface SimulatedHidScannerOptions extends Partial<Omit<HidScannerOptions, 'transport'>> {
  /** AIM id sent with each code, default `]Q1` (HID-POS: in the AIM field; keyboard: typed). */
  aim?: string | null;
}

export class SimulatedHidScanner extends HidScanner {
  readonly transport: FakeHidTransport;
  readonly #mode: 'keyboard' | 'hidpos';
  readonly #layout: HidScannerOptions['layout'];
  readonly #reportId: number | null | undefined;
  readonly #aim: string | null;

  constructor(options: SimulatedHidScannerOptions = {}) {
    const transport = new FakeHidTransport();
    super({
      mode: 'hidpos',
      name: 'simulated-hid-scanner',
      backoff: { initialMs: 50, maxMs: 1000 },
      ...options,
      vendorId: transport.vendorId,
      productId: transport.productId,
      transport,
    });
    this.transport = transport;
    this.#mode = options.mode ?? 'hidpos';
    this.#layout = options.layout;
    this.#reportId = options.reportId;
    this.#aim = options.aim === undefined ? ']Q1' : options.aim;
  }

  present(text: string): Promise<void> {
    const reports =
      this.#mode === 'keyboard'
        ? encodeKeyboardReports(`${this.#aim ?? ''}${text}`, this.#layout ?? 'us', { reportId: this.#reportId ?? null })
        : encodeHidPosReports(text, { aim: this.#aim ?? '\0\0\0', reportId: this.#reportId === undefined ? 2 : this.#reportId });
    return this.transport.send(reports);
  }

  unplug(): void {
    this.transport.unplug();
  }

  replug(): void {
    this.transport.replug();
  }
}
