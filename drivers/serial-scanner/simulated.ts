/**
 * The serial scanner's simulated twin for the demo and tests: a real `SerialScanner` on a
 * `VirtualSerialLink`, so framing, AIM handling and reconnects run exactly as on the Pi.
 */
import { VirtualSerialLink } from '../serial/virtual-link.js';
import { SerialScanner, type SerialScannerOptions } from './scanner.js';

export interface SimulatedScannerOptions extends Omit<SerialScannerOptions, 'binding' | 'path'> {
  /** AIM identifier the simulated scanner prefixes, default `]Q1`; null for none. */
  aim?: string | null;
  /** Line suffix, default CR LF. */
  suffix?: string;
}

export class SimulatedScanner extends SerialScanner {
  readonly link: VirtualSerialLink;
  readonly #aim: string | null;
  readonly #suffix: string;

  constructor(options: SimulatedScannerOptions = {}) {
    const link = new VirtualSerialLink('/dev/virtual/scanner');
    super({ backoff: { initialMs: 50, maxMs: 1000 }, name: 'simulated-scanner', ...options, binding: link.binding, path: link.path });
    this.link = link;
    this.#aim = options.aim === undefined ? ']Q1' : options.aim;
    this.#suffix = options.suffix ?? '\r\n';
  }

  /** A code held under the scanner: sends AIM + text + suffix down the virtual cable. */
  present(text: string): Promise<void> {
    return this.link.device.write(Buffer.from(`${this.#aim ?? ''}${text}${this.#suffix}`, 'utf8'));
  }

  /** Raw bytes as the scanner would send them (noise, over-long lines, split lines). */
  presentRaw(bytes: Uint8Array): Promise<void> {
    return this.link.device.write(bytes);
  }

  unplug(): void {
    this.link.unplug();
  }

  replug(): void {
    this.link.replug();
  }
}
