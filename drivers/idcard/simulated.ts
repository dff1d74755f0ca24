/**
 * The ID-card reader's simulated twin for the demo and tests: a real `IdCardReader` on a
 * `VirtualSerialLink` with a `FakeSamReader` on the far end, so polling, framing and the
 * one-scan-per-presentation logic run as on the Pi. `present(card)` / `remove()` move a synthetic card.
 */
import { VirtualSerialLink } from '../serial/virtual-link.js';
import { FakeSamReader, type FakeSamReaderOptions } from './fake-reader.js';
import { IdCardReader, type IdCardReaderOptions } from './reader.js';
import type { CardFields } from './text.js';

export interface SimulatedIdCardReaderOptions extends Omit<IdCardReaderOptions, 'binding' | 'path'> {
  fake?: FakeSamReaderOptions;
}

export class SimulatedIdCardReader extends IdCardReader {
  readonly link: VirtualSerialLink;
  readonly fake: FakeSamReader;

  constructor(options: SimulatedIdCardReaderOptions = {}) {
    const link = new VirtualSerialLink('/dev/virtual/idcard');
    super({ backoff: { initialMs: 50, maxMs: 1000 }, name: 'simulated-idcard', ...options, binding: link.binding, path: link.path });
    this.link = link;
    this.fake = new FakeSamReader(link.device, options.fake);
  }

  present(card: CardFields): void {
    this.fake.present(card);
  }

  remove(): void {
    this.fake.remove();
  }

  unplug(): void {
    this.link.unplug();
  }

  replug(): void {
    this.link.replug();
  }
}
