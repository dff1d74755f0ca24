/**
 * Clock trust (`clock.trusted`): whether the gate can vouch for its wall clock.
 *
 * `auto` (the default) trusts the clock while systemd-timesyncd or chrony reports it synchronised, or
 * a configured RTC is present — and never while it reads earlier than the floor: the latest time the
 * gate knows has passed, kept in the store and raised by every recorded event and by the `iat` of
 * every verified envelope (the backend's signature vouches for that time). A Pi without an RTC that
 * boots at 1970, or at fake-hwclock's last save, is therefore untrusted until NTP catches up.
 *
 * `trusted()` is called on every decision, so it only reads cached state; `refresh()` asks the time
 * daemon (a child process) and runs on a timer.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock } from './core/ports.js';

export type ClockTrustMode = 'auto' | 'system' | 'never';

/** What the time daemon says; `synchronised: null` when there is none to ask (CI, a container). */
export interface SyncReport {
  synchronised: boolean | null;
  source: string;
}

/** Runs a command and resolves its stdout, or null when it cannot run (absent, failing, timed out). */
export type RunCommand = (cmd: string, args: string[]) => Promise<string | null>;

export const runCommand: RunCommand = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 3000 }, (err, stdout) => resolve(err ? null : String(stdout)));
  });

/**
 * Asks, in order: timesyncd's flag file (written on every sync), `timedatectl` (timesyncd through
 * D-Bus) and `chronyc tracking`. `root` prefixes the flag file's path (tests fake it).
 */
export async function probeTimeSync(env: { root?: string; run?: RunCommand } = {}): Promise<SyncReport> {
  const root = env.root ?? '/';
  const run = env.run ?? runCommand;
  if (existsSync(join(root, 'run/systemd/timesync/synchronized'))) return { synchronised: true, source: 'systemd-timesyncd' };
  const td = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (td !== null && /^(yes|no)$/m.test(td.trim())) {
    if (td.trim() === 'yes') return { synchronised: true, source: 'timedatectl' };
    // timedatectl says "no" also when chrony (not timesyncd) keeps time: ask chrony before concluding.
    const chrony = await chronyReport(run);
    return chrony ?? { synchronised: false, source: 'timedatectl' };
  }
  return (await chronyReport(run)) ?? { synchronised: null, source: 'no time daemon answered (timedatectl, chronyc)' };
}

async function chronyReport(run: RunCommand): Promise<SyncReport | null> {
  const out = await run('chronyc', ['-n', 'tracking']);
  if (out === null) return null;
  const leap = /Leap status\s*:\s*(.+)/.exec(out)?.[1]?.trim();
  if (!leap) return null;
  return { synchronised: leap !== 'Not synchronised', source: 'chrony' };
}

export interface ClockTrustState {
  trusted: boolean;
  /** Why, in words a technician can act on. */
  reason: string;
  mode: ClockTrustMode;
  floorMs: number;
  behindFloor: boolean;
  sync: SyncReport;
  rtc: boolean;
}

export interface TrustingClockOptions {
  mode: ClockTrustMode;
  /** The floor: the latest time known to have passed (GateStore.clockFloorMs). */
  floorMs: () => number;
  /** An RTC device path (`/dev/rtc0`); its presence vouches for the clock in `auto`. */
  rtc?: string;
  now?: () => number;
  probe?: () => Promise<SyncReport>;
  exists?: (path: string) => boolean;
}

export class TrustingClock implements Clock {
  private sync: SyncReport = { synchronised: null, source: 'not asked yet' };
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly rtcPresent: boolean;

  constructor(private readonly o: TrustingClockOptions) {
    this.now = o.now ?? Date.now;
    this.rtcPresent = o.rtc !== undefined && (o.exists ?? existsSync)(o.rtc);
  }

  nowMs(): number {
    return this.now();
  }
  monoMs(): number {
    return performance.now();
  }
  trusted(): boolean {
    return this.state().trusted;
  }

  state(): ClockTrustState {
    const floorMs = this.o.floorMs();
    const behindFloor = this.now() < floorMs;
    const base = { mode: this.o.mode, floorMs, behindFloor, sync: this.sync, rtc: this.rtcPresent };
    if (this.o.mode === 'never') return { ...base, trusted: false, reason: 'clock.trusted is "never"' };
    if (behindFloor) return { ...base, trusted: false, reason: `clock reads ${iso(this.now())}, behind the last known time ${iso(floorMs)}` };
    if (this.o.mode === 'system') return { ...base, trusted: true, reason: 'clock.trusted is "system"' };
    if (this.sync.synchronised) return { ...base, trusted: true, reason: `synchronised (${this.sync.source})` };
    if (this.rtcPresent) return { ...base, trusted: true, reason: `RTC ${this.o.rtc} present` };
    return {
      ...base,
      trusted: false,
      reason: this.sync.synchronised === false ? `not synchronised (${this.sync.source})` : `cannot tell: ${this.sync.source}, and no RTC`,
    };
  }

  /** Asks the time daemon once (the service calls `start`, which keeps asking). */
  async refresh(): Promise<ClockTrustState> {
    if (this.o.mode === 'auto') this.sync = await (this.o.probe ?? probeTimeSync)();
    return this.state();
  }

  /** Refreshes now and every `everyMs`; `onChange` hears each change of trust. */
  async start(everyMs = 60_000, onChange?: (s: ClockTrustState) => void): Promise<void> {
    let last = (await this.refresh()).trusted;
    this.timer = setInterval(() => {
      void this.refresh().then((s) => {
        if (s.trusted !== last) onChange?.(s);
        last = s.trusted;
      });
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The clock a configuration asks for, its floor kept by `store`. */
export function clockFromConfig(c: { trusted: ClockTrustMode; rtc?: string }, store: { clockFloorMs(): number }): TrustingClock {
  return new TrustingClock({ mode: c.trusted, floorMs: () => store.clockFloorMs(), ...(c.rtc ? { rtc: c.rtc } : {}) });
}
