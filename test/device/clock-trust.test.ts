import { describe, it, expect, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustingClock, probeTimeSync, type RunCommand, type SyncReport } from '../../device/clock-trust.js';
import { GateStore } from '../../device/store/store.js';
import { gateStatus } from '../../device/status.js';

const T = Date.UTC(2026, 10, 27, 12, 0, 0);
const synced: SyncReport = { synchronised: true, source: 'test' };
const unsynced: SyncReport = { synchronised: false, source: 'test' };
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'passgate-clock-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('clock trust', () => {
  it('auto trusts a synchronised clock and not an unsynchronised one', async () => {
    let report = synced;
    const clock = new TrustingClock({ mode: 'auto', floorMs: () => 0, now: () => T, probe: async () => report });
    expect(clock.trusted()).toBe(false); // nothing asked yet
    await clock.refresh();
    expect(clock.trusted()).toBe(true);
    report = unsynced;
    await clock.refresh();
    expect(clock.trusted()).toBe(false);
    expect(clock.state().reason).toMatch(/not synchronised/);
  });

  it('auto trusts a present RTC without a time daemon', async () => {
    const clock = new TrustingClock({ mode: 'auto', floorMs: () => 0, now: () => T, rtc: '/dev/rtc0', exists: (p) => p === '/dev/rtc0', probe: async () => ({ synchronised: null, source: 'none' }) });
    await clock.refresh();
    expect(clock.state()).toMatchObject({ trusted: true, rtc: true });
  });

  it('never trusts a clock behind the floor, even synchronised or in "system" mode', async () => {
    for (const mode of ['auto', 'system'] as const) {
      const clock = new TrustingClock({ mode, floorMs: () => T + 1000, now: () => T, probe: async () => synced });
      await clock.refresh();
      expect(clock.state()).toMatchObject({ trusted: false, behindFloor: true });
    }
  });

  it('the floor is raised by every recorded event and never lowered, and shows in status', async () => {
    const store = GateStore.open(tmp());
    try {
      store.initialise({ site: 's', gate: 'g', roots: [] });
      store.recordEvent({ kind: 'test' }, T);
      expect(store.clockFloorMs()).toBe(T);
      store.raiseClockFloor(T - 5000);
      expect(store.clockFloorMs()).toBe(T);
      let now = T - 60_000; // rebooted without an RTC: the clock came back earlier
      const clock = new TrustingClock({ mode: 'auto', floorMs: () => store.clockFloorMs(), now: () => now, probe: async () => synced });
      await clock.refresh();
      expect(gateStatus(store, clock).clock).toMatchObject({ trusted: false, behindFloor: true, floorMs: T });
      now = T + 1;
      expect(gateStatus(store, clock).clock).toMatchObject({ trusted: true, behindFloor: false });
    } finally {
      store.close();
    }
  });

  it('reads timesyncd\'s flag file, timedatectl and chronyc', async () => {
    const root = tmp();
    const none: RunCommand = async () => null;
    expect((await probeTimeSync({ root, run: none })).synchronised).toBeNull();
    expect(await probeTimeSync({ root, run: async (c) => (c === 'timedatectl' ? 'no\n' : null) })).toEqual({ synchronised: false, source: 'timedatectl' });
    expect(await probeTimeSync({ root, run: async (c) => (c === 'timedatectl' ? 'yes\n' : null) })).toEqual({ synchronised: true, source: 'timedatectl' });
    const chrony = (leap: string): RunCommand => async (c) => (c === 'chronyc' ? `Reference ID    : 0A000001\nLeap status     : ${leap}\n` : null);
    expect(await probeTimeSync({ root, run: chrony('Normal') })).toEqual({ synchronised: true, source: 'chrony' });
    expect(await probeTimeSync({ root, run: chrony('Not synchronised') })).toEqual({ synchronised: false, source: 'chrony' });
    mkdirSync(join(root, 'run/systemd/timesync'), { recursive: true });
    writeFileSync(join(root, 'run/systemd/timesync/synchronized'), '');
    expect(await probeTimeSync({ root, run: none })).toEqual({ synchronised: true, source: 'systemd-timesyncd' });
  });
});
