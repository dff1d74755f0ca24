import { describe, expect, it } from 'vitest';
import type { Presented } from '../../../device/core/types.js';
import { encodeKeyboardReports } from '../../../drivers/hid-scanner/keyboard.js';
import { HidScanner } from '../../../drivers/hid-scanner/scanner.js';
import { SimulatedHidScanner } from '../../../drivers/hid-scanner/simulated.js';
import { FakeHidTransport, NodeHidTransport } from '../../../drivers/hid-scanner/transport.js';

import { accessIsTwoReports, US_WEDGE_HC1 } from './recorded.js';
import { waitFor } from '../../helpers/wait.js';

const fastBackoff = { initialMs: 5, maxMs: 40, jitter: 0 };

function collect(s: HidScanner): Presented[] {
  const out: Presented[] = [];
  s.on('scan', (p) => out.push(p));
  return out;
}

describe('HidScanner on a fake transport', () => {
  it('HID-POS: recorded reports → one scan; unplug → reconnect by vendor/product id', async () => {
    const transport = new FakeHidTransport(0x0c2e, 0x0b8f);
    const s = new HidScanner({ transport, vendorId: 0x0c2e, productId: 0x0b8f, mode: 'hidpos', backoff: fastBackoff });
    const scans = collect(s);
    await s.start();
    expect(s.health().state).toBe('connected');
    const { reports, text } = accessIsTwoReports();
    await transport.send(reports);
    expect(scans).toEqual([{ input: 'qr', text }]);
    // unplug in the middle of a two-report code: the half code becomes one unreadable
    await transport.send([reports[0]!]);
    transport.unplug();
    await waitFor(() => s.health().state === 'reconnecting', { what: 'reconnecting', timeoutMs: 1000 });
    expect(scans[1]).toEqual({ input: 'qr', unreadable: 'code not terminated' });
    await waitFor(() => s.health().counters.openFailures >= 2, { what: 'failed opens', timeoutMs: 1000 });
    transport.replug();
    await waitFor(() => s.health().state === 'connected', { what: 'connected', timeoutMs: 1000 });
    await transport.send(reports);
    expect(scans).toHaveLength(3);
    expect(s.health().counters).toMatchObject({ scans: 2, unreadable: 1, opens: 2, disconnects: 1 });
    expect(s.health().lastError).toMatch(/cannot open device with vendor id 0x0c2e/);
    await s.stop();
    expect(s.health().state).toBe('stopped');
    expect(transport.current?.closed).toBe(true);
  });

  it('keyboard mode: recorded wedge reports, and an unterminated code dropped after the idle gap', async () => {
    const transport = new FakeHidTransport();
    const s = new HidScanner({ transport, vendorId: transport.vendorId, productId: transport.productId, mode: 'keyboard', idleFlushMs: 30 });
    const scans = collect(s);
    await s.start();
    await transport.send(US_WEDGE_HC1);
    await transport.send(encodeKeyboardReports('half', 'us', { enter: false }));
    await waitFor(() => scans.length === 2, { what: 'idle flush', timeoutMs: 1000 });
    expect(scans).toEqual([{ input: 'qr', text: 'HC1:6B' }, { input: 'qr', unreadable: 'code not terminated' }]);
    await s.stop();
  });

  it('validates its options', () => {
    const transport = new FakeHidTransport();
    expect(() => new HidScanner({ transport, vendorId: 0x10000, productId: 1, mode: 'hidpos' })).toThrow(/vendorId must be between 0 and 65535/);
    expect(() => new HidScanner({ transport, vendorId: 1, productId: 1, mode: 'serial' as never })).toThrow(/mode must be keyboard or hidpos/);
    expect(() => new HidScanner({ transport, vendorId: 1, productId: 1, mode: 'keyboard', layout: 'jp' as never })).toThrow(/layout must be one of us, de, fr/);
  });
});

describe('NodeHidTransport', () => {
  it('a node-hid that cannot load (no libusb) is a logged driver error and a retry, not a crash', async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: object, m: string) => void errors.push(`${m} ${JSON.stringify(o)}`) };
    let loads = 0;
    const transport = new NodeHidTransport({
      load: async () => {
        loads++;
        throw new Error('libusb-1.0.so.0: cannot open shared object file: No such file or directory');
      },
    });
    const s = new HidScanner({ transport, vendorId: 0x0c2e, productId: 0x0b8f, mode: 'hidpos', backoff: fastBackoff, logger });
    await s.start();
    await waitFor(() => s.health().counters.openFailures >= 3, { what: 'retries', timeoutMs: 1000 });
    expect(s.health().state).toBe('reconnecting');
    expect(s.health().lastError).toContain('libusb-1.0.so.0');
    expect(errors).toHaveLength(1);
    expect(loads).toBeGreaterThanOrEqual(3); // the import is retried, not cached as failed
    await s.stop();
  });

  it('the real node-hid on this machine: absent device or absent libusb both end up in health()', async () => {
    const s = new HidScanner({ transport: new NodeHidTransport(), vendorId: 0xfffe, productId: 0xfffe, mode: 'keyboard', backoff: fastBackoff });
    await s.start();
    expect(s.health().state).toBe('reconnecting');
    expect(s.health().lastError).toMatch(/^open fffe:fffe: /);
    await s.stop();
  });

  it('with usagePage, opens the HID-POS interface among the device’s interfaces', async () => {
    const opened: unknown[] = [];
    const fakeModule = {
      setDriverType() {},
      async devicesAsync() {
        return [
          { vendorId: 1, productId: 2, path: '/dev/hidraw0', usagePage: 1, usage: 6, release: 0, interface: 0 },
          { vendorId: 1, productId: 2, path: '/dev/hidraw1', usagePage: 0x8c, usage: 2, release: 0, interface: 1 },
        ];
      },
      HIDAsync: {
        async open(...args: unknown[]) {
          opened.push(args);
          return { on() {}, async close() {} };
        },
      },
    };
    const t = new NodeHidTransport({ usagePage: 0x8c, usage: 2, load: async () => fakeModule as never });
    await t.open(1, 2);
    expect(opened).toEqual([['/dev/hidraw1', undefined]]);
    const none = new NodeHidTransport({ usagePage: 0x8c, load: async () => ({ ...fakeModule, devicesAsync: async () => [] }) as never });
    await expect(none.open(1, 2)).rejects.toThrow('no HID interface with usage page 0x8c on 0001:0002');
  });
});

describe('SimulatedHidScanner', () => {
  it.each([
    ['hidpos', {}],
    ['keyboard us', { mode: 'keyboard' as const }],
    ['keyboard fr', { mode: 'keyboard' as const, layout: 'fr' as const }],
    ['keyboard de, report id 1', { mode: 'keyboard' as const, layout: 'de' as const, reportId: 1 }],
  ])('%s: present(text) → scan', async (_name, options) => {
    const sim = new SimulatedHidScanner({ ...options, acceptAim: 'qr' });
    const scans = collect(sim);
    await sim.start();
    const long = 'HC1:' + 'NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOO6+IUKQGMA2VK/9WIH+PNQMEL:AJ'.repeat(3);
    await sim.present(long);
    expect(scans).toEqual([{ input: 'qr', text: long }]);
    await sim.stop();
  });
});
