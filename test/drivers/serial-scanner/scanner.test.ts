/**
 * The same suite against `@serialport/binding-mock` and a socat pty pair with the real binding
 * (node-serialport's dual-run style). Bytes are written from the far end of the cable.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Presented } from '../../../device/core/types.js';
import { SerialScanner } from '../../../drivers/serial-scanner/scanner.js';
import { SimulatedScanner } from '../../../drivers/serial-scanner/simulated.js';
import type { DriverState } from '../../../drivers/types.js';
import { createTransport, TRANSPORT_KINDS, type SerialTransport } from '../serial/transports.js';
import { waitFor } from '../../helpers/wait.js';

const fastBackoff = { initialMs: 10, maxMs: 80, jitter: 0 };

describe.each(TRANSPORT_KINDS)('SerialScanner over %s', (kind) => {
  let t: SerialTransport;
  let scanner: SerialScanner;
  let scans: Presented[];
  let states: DriverState[];

  beforeEach(async () => {
    t = await createTransport(kind);
    scanner = new SerialScanner({ binding: t.binding, path: t.path, backoff: fastBackoff, presenceCheckMs: 50 });
    scans = [];
    states = [];
    scanner.on('scan', (s) => scans.push(s));
    scanner.on('state', (s) => states.push(s));
    await scanner.start();
    await waitFor(() => scanner.health().state === 'connected', { what: 'connected', timeoutMs: 3000 });
    states.length = 0;
  });

  afterEach(async () => {
    await scanner.stop();
    await t.dispose();
  });

  it('emits one scan per line, framing across chunk boundaries, AIM id stripped', async () => {
    await t.device.write(Buffer.from(']Q1HC1:6BFOXN'));
    await t.device.write(Buffer.from('*TS0BI$ZD\r'));
    await t.device.write(Buffer.from('\nsecond\n]Q2third\r\n'));
    await waitFor(() => scans.length >= 3, { what: 'three scans', timeoutMs: 3000 });
    expect(scans).toEqual([
      { input: 'qr', text: 'HC1:6BFOXN*TS0BI$ZD' },
      { input: 'qr', text: 'second' },
      { input: 'qr', text: 'third' },
    ]);
    expect(scanner.health().counters).toMatchObject({ scans: 3, unreadable: 0 });
  });

  it('turns garbage and an over-long line into unreadable scans and keeps going', async () => {
    await t.device.write(Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0x0d]));
    await t.device.write(Buffer.alloc(6000, 0x41));
    await t.device.write(Buffer.alloc(3000, 0x42));
    await t.device.write(Buffer.from('\r\n]Q1ok\r\n'));
    await waitFor(() => scans.length >= 3, { what: 'three scans', timeoutMs: 3000 });
    expect(scans).toEqual([
      { input: 'qr', unreadable: 'not valid UTF-8' },
      { input: 'qr', unreadable: 'line over 4096 bytes' },
      { input: 'qr', text: 'ok' },
    ]);
    expect(scanner.health().counters).toMatchObject({ scans: 1, unreadable: 2, overlong: 1 });
  });

  it('reconnects by itself after an unplug, with backoff while the device is gone', async () => {
    await t.unplug();
    await waitFor(() => scanner.health().state === 'reconnecting', { what: 'reconnecting', timeoutMs: 3000 });
    await waitFor(() => scanner.health().counters.openFailures >= 2, { what: 'failed reopen attempts', timeoutMs: 3000 });
    expect(scanner.health().lastError).toBeTruthy();
    await t.replug();
    await waitFor(() => scanner.health().state === 'connected', { what: 'connected again', timeoutMs: 3000 });
    await t.device.write(Buffer.from('after\r\n'));
    await waitFor(() => scans.length >= 1, { what: 'scan after replug', timeoutMs: 3000 });
    expect(scans).toEqual([{ input: 'qr', text: 'after' }]);
    const h = scanner.health();
    expect(h.counters.disconnects).toBe(1);
    expect(h.counters.opens).toBe(2);
    expect(states).toEqual(['reconnecting', 'connected']);
  });

  it('stop closes the port and reports stopped; start again reconnects', async () => {
    await scanner.stop();
    expect(scanner.health().state).toBe('stopped');
    await scanner.start();
    await waitFor(() => scanner.health().state === 'connected', { what: 'connected', timeoutMs: 3000 });
    await t.device.write(Buffer.from('x\n'));
    await waitFor(() => scans.length === 1, { what: 'scan', timeoutMs: 3000 });
  });
});

describe('SerialScanner without a device', () => {
  it('keeps retrying an absent path, and a rejecting list() (spawn udevadm ENOENT) never escapes', async () => {
    const rejections: unknown[] = [];
    const onRejection = (r: unknown): void => void rejections.push(r);
    process.on('unhandledRejection', onRejection);
    const binding = {
      list: () => Promise.reject(Object.assign(new Error('spawn udevadm ENOENT'), { code: 'ENOENT' })),
      open: () => Promise.reject(Object.assign(new Error("ENOENT: no such file or directory, open '/dev/serial/by-id/usb-x'"), { code: 'ENOENT' })),
    };
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (_o: object, m: string) => void warnings.push(m) };
    const s = new SerialScanner({ binding, path: '/dev/serial/by-id/usb-x', backoff: fastBackoff, logger });
    await s.start();
    await waitFor(() => s.health().counters.openFailures >= 3, { what: 'retries', timeoutMs: 3000 });
    expect(s.health().state).toBe('reconnecting');
    expect(s.health().lastError).toContain('ENOENT');
    expect(warnings).toEqual(['serial port open failed; retrying with backoff']); // once per streak, then debug
    await s.stop();
    await new Promise((r) => setTimeout(r, 20));
    process.off('unhandledRejection', onRejection);
    expect(rejections).toEqual([]);
  });

  it('a stop during an open in flight abandons it: start, stop, start leaves exactly one port open', async () => {
    const opened: Array<{ isOpen: boolean }> = [];
    const { VirtualSerialLink } = await import('../../../drivers/serial/virtual-link.js');
    const link = new VirtualSerialLink('/dev/virtual/slow');
    const binding = {
      list: () => link.binding.list(),
      async open(options: Parameters<typeof link.binding.open>[0]) {
        await new Promise((r) => setTimeout(r, 30));
        const port = await link.binding.open(options).catch(() => null);
        if (!port) throw new Error('Port is locked cannot open');
        opened.push(port);
        return port;
      },
    };
    const s = new SerialScanner({ binding, path: link.path, backoff: fastBackoff });
    const first = s.start();
    await s.stop();
    await s.start();
    await first;
    await waitFor(() => s.health().state === 'connected', { what: 'connected', timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 60));
    expect(opened.filter((p) => p.isOpen)).toHaveLength(1);
    await s.stop();
    expect(opened.filter((p) => p.isOpen)).toHaveLength(0);
  });

  it('validates options with the range in the message', () => {
    const binding = { list: async () => [], open: async () => ({}) as never };
    expect(() => new SerialScanner({ binding, path: '/dev/x', baudRate: 0 })).toThrow(/baudRate must be between 50 and 4000000, got 0/);
    expect(() => new SerialScanner({ binding, path: '' })).toThrow(/serial path is required/);
  });

  it('a listener that throws does not break the scanner', async () => {
    const sim = new SimulatedScanner({ logger: undefined });
    const got: Presented[] = [];
    sim.on('scan', () => {
      throw new Error('consumer bug');
    });
    sim.on('scan', (s) => got.push(s));
    await sim.start();
    await sim.present('one');
    await sim.present('two');
    await waitFor(() => got.length === 2, { what: 'scans', timeoutMs: 2000 });
    await sim.stop();
  });
});

describe('SimulatedScanner', () => {
  it('presents codes with an AIM id through the real framer and survives unplug/replug', async () => {
    const sim = new SimulatedScanner({ acceptAim: 'qr', backoff: fastBackoff });
    const got: Array<[Presented, string | undefined]> = [];
    sim.on('scan', (s, meta) => got.push([s, meta.aim]));
    await sim.start();
    expect(sim.health().state).toBe('connected');
    await sim.present('HC1:ABC');
    await waitFor(() => got.length === 1, { what: 'scan', timeoutMs: 2000 });
    sim.unplug();
    await waitFor(() => sim.health().state === 'reconnecting', { what: 'reconnecting', timeoutMs: 2000 });
    sim.replug();
    await waitFor(() => sim.health().state === 'connected', { what: 'connected', timeoutMs: 2000 });
    await sim.presentRaw(Buffer.from(']C0123\r\n'));
    await waitFor(() => got.length === 2, { what: 'second scan', timeoutMs: 2000 });
    expect(got).toEqual([
      [{ input: 'qr', text: 'HC1:ABC' }, ']Q1'],
      [{ input: 'qr', unreadable: 'symbology ]C0 not accepted' }, ']C0'],
    ]);
    await sim.stop();
  });
});
