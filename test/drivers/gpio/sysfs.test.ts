import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { SILENT } from '../../../base/log.js';
import { SysfsGpio } from '../../../drivers/gpio/sysfs.js';
import { Relay } from '../../../drivers/gpio/relay.js';
import { DigitalInput, openFireAlarmInput } from '../../../drivers/gpio/input.js';
import { FakeSysfs, PI4_CHIPS, PI5_CHIPS } from './fake-sysfs.js';
import { waitFor } from '../serial/transports.js';

let fake: FakeSysfs;
afterEach(() => fake?.dispose());

describe('SysfsGpio on a fake sysfs tree', () => {
  it('finds the header chip base from gpiochipN/label + base: Pi 5 pinctrl-rp1 at 571, Pi 4 at 512', () => {
    fake = new FakeSysfs(PI5_CHIPS);
    const pi5 = new SysfsGpio({ root: fake.root, io: fake.io });
    expect(pi5.chip()).toEqual({ chip: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 });
    expect(pi5.sysfsNumber(17)).toBe(588);
    fake.dispose();
    fake = new FakeSysfs(PI4_CHIPS);
    expect(new SysfsGpio({ root: fake.root, io: fake.io }).sysfsNumber(17)).toBe(529);
    expect(new SysfsGpio({ root: fake.root, io: fake.io, base: 0 }).sysfsNumber(17)).toBe(17);
  });

  it('refuses an unknown chip, a missing tree and an out-of-range line, naming what it found', () => {
    fake = new FakeSysfs([{ label: 'gpio-mockup-A', base: 0, ngpio: 8 }]);
    expect(() => new SysfsGpio({ root: fake.root, io: fake.io }).chip()).toThrow(/no GPIO chip labelled pinctrl-rp1 or .* \(found: gpio-mockup-A\)/);
    expect(() => new SysfsGpio({ root: '/nonexistent/gpio' }).chip()).toThrow(/no GPIO sysfs at \/nonexistent\/gpio/);
    expect(() => new SysfsGpio({ root: fake.root, io: fake.io, chipLabel: 'gpio-mockup-A' }).sysfsNumber(8)).toThrow(/GPIO line must be between 0 and 7, got 8/);
  });

  it('an active-low relay: first written level is the released one (direction high), never "out"', async () => {
    fake = new FakeSysfs();
    const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
    const relay = await Relay.open(gpio, { line: 17, activeLow: true });
    const n = 588;
    expect(fake.writes[0]).toEqual({ file: 'export', value: '588' });
    const writes = fake.lineWrites(n);
    expect(writes.slice(0, 2)).toEqual([
      { file: 'active_low', value: '0' },
      { file: 'direction', value: 'high' },
    ]);
    expect(fake.levels(n)[0]).toBe(1);
    expect(writes.some((w) => w.value === 'out')).toBe(false);
    await relay.pulse(20);
    expect(fake.levels(n)).toEqual([1, 1, 0, 1]); // direction high, constructor re-assert, energise, release
    relay.close();
    expect(fake.levels(n).at(-1)).toBe(1);
    // closing leaves the line exported and driven released: no unexport
    expect(fake.writes.some((w) => w.file === 'unexport')).toBe(false);
  });

  it('an active-high relay starts low; a line left energised by a crashed run is released at open', async () => {
    fake = new FakeSysfs();
    fake.preExport(588, { direction: 'out\n', value: '0\n', active_low: '1\n' }); // active-low board held energised
    const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
    await Relay.open(gpio, { line: 17, activeLow: true });
    expect(fake.writes.some((w) => w.file === 'export')).toBe(false); // already exported
    expect(fake.lineWrites(588).slice(0, 2)).toEqual([{ file: 'active_low', value: '0' }, { file: 'direction', value: 'high' }]);
    const high = await Relay.open(gpio, { line: 27, activeLow: false });
    expect(fake.levels(598)[0]).toBe(0);
    expect(high.energised).toBe(false);
  });

  it('waits for udev to create gpioN/ after export', async () => {
    fake = new FakeSysfs();
    fake.exportDelayMs = 40;
    const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
    await Relay.open(gpio, { line: 5 });
    expect(fake.levels(576)[0]).toBe(1);
    const slow = new SysfsGpio({ root: fake.root, io: fake.io, exportTimeoutMs: 0 });
    fake.exportDelayMs = 1000;
    await expect(slow.output(6, 1)).rejects.toThrow(/gpio577 did not appear after export/);
  });

  it('inputs: direction in, edge none, polled and debounced; a line cannot be claimed twice', async () => {
    fake = new FakeSysfs();
    const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
    const input = await DigitalInput.open(gpio, { line: 22, debounceMs: 15, pollMs: 2, name: 'passage' });
    expect(fake.lineWrites(593)).toEqual([
      { file: 'active_low', value: '0' },
      { file: 'direction', value: 'in' },
      { file: 'edge', value: 'none' },
    ]);
    const changes: boolean[] = [];
    input.on('change', (a) => changes.push(a));
    fake.drive(593, 1);
    await waitFor(() => changes.length === 1, 1000, 'change');
    expect(input.active).toBe(true);
    await expect(gpio.input(22)).rejects.toThrow(/GPIO line 22 is already in use/);
    input.close();
    await gpio.input(22); // free again after close
  });

  it('fire alarm, normally closed with pull-up: a cut wire (line high) is an alarm', async () => {
    fake = new FakeSysfs();
    const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
    const alarm = await openFireAlarmInput(gpio, { line: 4, debounceMs: 10, pollMs: 2 });
    expect(alarm.active).toBe(false); // contact closed: line low
    const seen: boolean[] = [];
    alarm.on('change', (a) => seen.push(a));
    fake.drive(575, 1);
    await waitFor(() => seen.length === 1, 1000, 'alarm');
    expect(seen).toEqual([true]);
    alarm.close();
  });

  describe('defect 3: the relay is immune to file-descriptor exhaustion', () => {
    afterEach(() => vi.useRealTimers());

    it('defect 3: with every new open failing EMFILE after start, a pulse is still released on time by the relay itself', async () => {
      fake = new FakeSysfs();
      const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
      const relay = await Relay.open(gpio, { line: 17, activeLow: true, maxPulseMs: 1000 });
      vi.useFakeTimers();
      // From here the process is out of descriptors, as under 1,100 slow connections with ulimit -n 1024.
      fake.exhausted = true;
      expect(() => fake.io.openForWrite(join(fake.root, 'gpio588', 'value'))).toThrow(/EMFILE/);
      let released = false;
      void relay.pulse(300).then(() => (released = true));
      expect(fake.levels(588).at(-1)).toBe(0); // energised through the descriptor opened at start
      await vi.advanceTimersByTimeAsync(299);
      expect(released).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(released).toBe(true);
      expect(fake.levels(588).at(-1)).toBe(1); // de-energised at 300 ms, not when the flood stops
      expect(relay.stats.releaseFailures).toBe(0);
      expect(relay.health()).toEqual({ ok: true });
      expect(fake.refusedOpens).toBeGreaterThan(0);
      fake.exhausted = false;
      relay.close();
    });

    it('defect 3: the fire alarm input is still read while every new open fails with EMFILE', async () => {
      fake = new FakeSysfs();
      const gpio = new SysfsGpio({ root: fake.root, io: fake.io });
      const alarm = await openFireAlarmInput(gpio, { line: 4, debounceMs: 10, pollMs: 2 });
      const seen: boolean[] = [];
      alarm.on('change', (a) => seen.push(a));
      fake.exhausted = true;
      fake.drive(575, 1); // the contact opens during the flood
      await waitFor(() => seen.length === 1, 1000, 'alarm seen while out of descriptors');
      expect(seen).toEqual([true]);
      expect(fake.refusedOpens).toBe(0); // polling opened nothing
      fake.exhausted = false;
      alarm.close();
    });

    it('defect 3: a release write that fails is retried until it lands, counted, reported and logged at most once a second', async () => {
      fake = new FakeSysfs();
      const errors: string[] = [];
      const logger = { ...SILENT, error: (_o: object, msg?: string) => void errors.push(msg ?? '') };
      const failing = { ...fake.io, writeAt: (fd: number, data: string) => (broken && data === '1' ? failWith('EIO') : fake.io.writeAt(fd, data)) };
      let broken = false;
      const gpio = new SysfsGpio({ root: fake.root, io: failing });
      const relay = await Relay.open(gpio, { line: 17, activeLow: true, maxPulseMs: 1000, retryMs: 50, logger });
      vi.useFakeTimers();
      void relay.pulse(100);
      broken = true;
      await vi.advanceTimersByTimeAsync(100 + 50 * 30); // 1.6 s of failing releases
      expect(fake.levels(588).at(-1)).toBe(0);
      expect(relay.health().ok).toBe(false);
      expect(relay.stats.releaseFailures).toBeGreaterThan(20);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.length).toBeLessThanOrEqual(2);
      broken = false;
      await vi.advanceTimersByTimeAsync(50);
      expect(fake.levels(588).at(-1)).toBe(1);
      expect(relay.health()).toEqual({ ok: true });
      relay.close();
    });
  });
});

function failWith(code: string): never {
  throw Object.assign(new Error(`${code}: injected`), { code });
}
