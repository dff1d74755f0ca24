/**
 * IdCardReader end to end against the fake SAM reader on the far end of the cable — the same suite
 * over `@serialport/binding-mock` and over a socat pty pair with the real binding.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Presented } from '../../../device/core/types.js';
import { commandFrame } from '../../../drivers/idcard/frame.js';
import { FakeSamReader } from '../../../drivers/idcard/fake-reader.js';
import { IdCardReader, type IdCardReaderOptions } from '../../../drivers/idcard/reader.js';
import { SimulatedIdCardReader } from '../../../drivers/idcard/simulated.js';
import { createTransport, TRANSPORT_KINDS, type SerialTransport } from '../serial/transports.js';
import { waitFor } from '../../helpers/wait.js';

const CARD = { name: '张三丰', idNumber: '11010519491231002X' };
const OTHER = { name: '李四', idNumber: '440524188001010014' };

const fast: Partial<IdCardReaderOptions> = {
  pollIntervalMs: 10,
  timeouts: { find: 300, select: 300, read: 2000, status: 300 },
  absentPolls: 2,
  repeatHoldMs: 0,
  backoff: { initialMs: 10, maxMs: 80, jitter: 0 },
  presenceCheckMs: 50,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes the card away and waits until the reader has polled an empty field a few times. */
async function removeAndWait(fake: FakeSamReader, polls = 4): Promise<void> {
  fake.remove();
  const finds = (): number => fake.requests.filter((r) => r === 'find').length;
  const start = finds();
  await waitFor(() => finds() >= start + polls, { what: 'empty polls', timeoutMs: 3000 });
}

describe.each(TRANSPORT_KINDS)('IdCardReader over %s', (kind) => {
  let t: SerialTransport;
  let fake: FakeSamReader;
  let reader: IdCardReader;
  let scans: Presented[];
  let logged: string[];

  const make = async (options: Partial<IdCardReaderOptions> = {}): Promise<void> => {
    const log = (level: string) => (obj: object, msg: string) => void logged.push(`${level} ${msg} ${JSON.stringify(obj)}`);
    reader = new IdCardReader({
      binding: t.binding,
      path: t.path,
      ...fast,
      ...options,
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    });
    reader.on('scan', (s) => scans.push(s));
    await reader.start();
    await waitFor(() => reader.health().state === 'connected', { what: 'connected', timeoutMs: 3000 });
  };

  beforeEach(async () => {
    t = await createTransport(kind);
    fake = new FakeSamReader(t.device);
    scans = [];
    logged = [];
  });

  afterEach(async () => {
    await reader?.stop();
    fake.close();
    await t.dispose();
    // personal data never reaches a log line
    for (const line of logged) {
      expect(line).not.toContain(CARD.idNumber);
      expect(line).not.toContain(CARD.name);
      expect(line).not.toContain(OTHER.idNumber);
    }
  });

  it('writes status, then find/select/read byte for byte, and emits one scan per presentation', async () => {
    await make();
    await waitFor(() => fake.requests.filter((r) => r === 'find').length >= 3, { what: 'polling', timeoutMs: 3000 });
    fake.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'first scan', timeoutMs: 3000 });
    expect(scans[0]).toEqual({ input: 'idcard', idNumber: '11010519491231002X', maskedName: '张**' });
    // the card stays: many more polls, still one scan
    const finds = fake.requests.filter((r) => r === 'find').length;
    await waitFor(() => fake.requests.filter((r) => r === 'find').length >= finds + 5, { what: 'more polls', timeoutMs: 3000 });
    expect(scans).toHaveLength(1);
    // host bytes: status check first, then finds, then one select and one read
    const wire = t.written();
    const status = commandFrame('samStatus');
    const find = commandFrame('find');
    expect(wire.subarray(0, status.length)).toEqual(status);
    expect(wire.subarray(status.length, status.length + find.length)).toEqual(find);
    expect(count(wire, commandFrame('select'))).toBe(1);
    expect(count(wire, commandFrame('readText'))).toBe(1);
    expect(wire.length % 10).toBe(0); // only whole 10-byte command frames
    // removed, then presented again: a second scan
    await removeAndWait(fake);
    fake.present(OTHER);
    await waitFor(() => scans.length === 2, { what: 'second scan', timeoutMs: 3000 });
    expect(scans[1]).toEqual({ input: 'idcard', idNumber: '440524188001010014', maskedName: '李*' });
    expect(reader.health().counters).toMatchObject({ scans: 2, unreadable: 0, timeouts: 0, badFrames: 0 });
  });

  it('survives noise, replies split into small chunks, and a bad checksum', async () => {
    await make();
    fake.faults = { noiseBytes: 37, splitChunks: 9, splitPauseMs: 0, badChecksums: 2 };
    fake.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'scan through faults', timeoutMs: 5000 });
    expect(scans[0]).toMatchObject({ idNumber: '11010519491231002X' });
    const c = reader.health().counters;
    expect(c.badFrames).toBeGreaterThanOrEqual(1);
    expect(c.noiseBytes).toBeGreaterThan(0);
    await sleep(50);
    expect(scans).toHaveLength(1);
  });

  it('reports a failing read once as unreadable, and a foreigner card as unsupported', async () => {
    await make({ readAttempts: 3 });
    fake.faults = { readFailures: 10 };
    fake.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'unreadable', timeoutMs: 3000 });
    expect(scans[0]).toEqual({ input: 'idcard', unreadable: 'card read failed (SW3 0x41 READ_FAILED)' });
    await sleep(60);
    expect(scans).toHaveLength(1); // not one per poll
    fake.faults = {};
    await removeAndWait(fake);
    fake.present({ ...OTHER, typeMark: 'I' });
    await waitFor(() => scans.length === 2, { what: 'foreigner card', timeoutMs: 3000 });
    expect(scans[1]).toEqual({ input: 'idcard', unreadable: 'unsupported card type (foreigner permanent residence card)' });
    expect(reader.health().counters.readFailures).toBe(3);
  });

  it('times out each command, reopens the port after N consecutive timeouts, and recovers', async () => {
    await make({ reopenAfterTimeouts: 2, timeouts: { find: 40, select: 40, read: 100, status: 40 } });
    fake.faults = { silent: true };
    await waitFor(() => reader.health().counters.reopens >= 1, { what: 'reopen', timeoutMs: 3000 });
    expect(reader.health().counters.timeouts).toBeGreaterThanOrEqual(2);
    expect(reader.health().lastError).toMatch(/no reply to (find|samStatus) within 40 ms/);
    fake.faults = {};
    fake.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'scan after recovery', timeoutMs: 3000 });
    expect(reader.health().state).toBe('connected');
  });

  it('reconnects after an unplug and reads again', async () => {
    await make();
    fake.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'scan', timeoutMs: 3000 });
    await t.unplug();
    await waitFor(() => reader.health().state === 'reconnecting', { what: 'reconnecting', timeoutMs: 3000 });
    await t.replug();
    await waitFor(() => reader.health().state === 'connected', { what: 'connected', timeoutMs: 3000 });
    // a new connection is a new presentation (repeatHoldMs is 0 here)
    await waitFor(() => scans.length === 2, { what: 'scan after replug', timeoutMs: 3000 });
    expect(reader.health().counters.disconnects).toBe(1);
  });
});

describe('IdCardReader repeat hold', () => {
  it('the same card back within repeatHoldMs gives no second scan; another card does', async () => {
    const sim = new SimulatedIdCardReader({ ...fast, repeatHoldMs: 5000 });
    const scans: Presented[] = [];
    sim.on('scan', (s) => scans.push(s));
    await sim.start();
    sim.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'scan', timeoutMs: 2000 });
    await removeAndWait(sim.fake);
    sim.present(CARD);
    await waitFor(() => sim.health().counters.suppressedRepeats === 1, { what: 'suppressed', timeoutMs: 2000 });
    await removeAndWait(sim.fake);
    sim.present(OTHER);
    await waitFor(() => scans.length === 2, { what: 'other card', timeoutMs: 2000 });
    await sim.stop();
  });
});

describe('SimulatedIdCardReader', () => {
  it('reads a presented card through the virtual link, with the defaults', async () => {
    const sim = new SimulatedIdCardReader({ pollIntervalMs: 20 });
    const scans: Presented[] = [];
    sim.on('scan', (s) => scans.push(s));
    await sim.start();
    expect(sim.health().state).toBe('connected');
    sim.present(CARD);
    await waitFor(() => scans.length === 1, { what: 'scan', timeoutMs: 2000 });
    expect(scans[0]).toEqual({ input: 'idcard', idNumber: CARD.idNumber, maskedName: '张**' });
    await sim.stop();
    expect(sim.health().state).toBe('stopped');
  });

  it('rejects out-of-range options with the range named', () => {
    expect(() => new SimulatedIdCardReader({ pollIntervalMs: 1 })).toThrow(/pollIntervalMs must be between 5 and 10000, got 1/);
    expect(() => new SimulatedIdCardReader({ timeouts: { read: 0 } })).toThrow(/timeouts.read must be between 10 and 30000/);
  });
});

function count(hay: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}
