/**
 * Watching the gate from outside, as a person beside it would: the relay drawn from the GPIO writes
 * (scripts/lib/watched-gpio.ts), each verdict as it comes, and waiting — interruptibly, so Ctrl-C
 * stops the story between two steps.
 */
import { performance } from 'node:perf_hooks';
import type { Verdict, Verifier } from '../../device/verifier.js';
import type { Presented } from '../../device/core/types.js';
import type { Level } from '../../drivers/gpio/line.js';
import type { WatchedGpio } from '../lib/watched-gpio.js';

// --- waiting, interruptibly ----------------------------------------------------------------------------

export class Interrupted extends Error {}

/** Sleeps and polls that Ctrl-C (`interrupt()`) cuts short with Interrupted. */
export class Pacer {
  private readonly abort = new AbortController();

  /** `pauseMs` between two steps, so a person can read along (0: `--fast`). */
  constructor(private readonly pauseMs: number) {}

  interrupt(): void {
    this.abort.abort();
  }

  sleep(msToWait: number): Promise<void> {
    const signal = this.abort.signal;
    if (signal.aborted) return Promise.reject(new Interrupted());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        reject(new Interrupted());
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, msToWait);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  pause(): Promise<void> {
    return this.pauseMs > 0 ? this.sleep(this.pauseMs) : Promise.resolve();
  }

  /** Polls `ready` every 10 ms; throws after `timeoutMs` naming what it waited for. */
  async until(ready: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!ready()) {
      if (performance.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
      await this.sleep(10);
    }
  }

  /** A short contact pulse on an input line: the passage sensor's PASS contact opening for a moment. */
  async pulse(chip: WatchedGpio, line: number, msHigh = 60): Promise<void> {
    chip.set(line, 1);
    await this.sleep(msHigh);
    chip.set(line, 0);
  }
}

/** For shutdown, which Ctrl-C must not cut short: resolves true once ready, false at the timeout. */
export async function settle(ready: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!ready() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return ready();
}

// --- the relay -----------------------------------------------------------------------------------------

/** The relay as its coil sees it (energised or not), whatever the board's active-low wiring. */
export class RelayView {
  constructor(
    private readonly gpio: WatchedGpio,
    private readonly line: number,
    private readonly activeLow: boolean,
  ) {}

  private get log() {
    return this.gpio.written.get(this.line) ?? [];
  }
  private energised(pin: Level): boolean {
    return this.activeLow ? pin === 0 : pin === 1;
  }
  mark(): number {
    return this.log.length;
  }
  get isEnergised(): boolean {
    const last = this.log.at(-1);
    return last !== undefined && this.energised(last.level);
  }
  /** Energised at some point since `mark` and back at rest now. */
  pulsedSince(mark: number): boolean {
    return this.log.slice(mark).some((w) => this.energised(w.level)) && !this.isEnergised;
  }
  energisedSince(mark: number): { atMs: number } | undefined {
    return this.log.slice(mark).find((w) => this.energised(w.level));
  }
  lastChangeAt(): number {
    return this.log.at(-1)?.atMs ?? 0;
  }
  /** `▁▔▁ 300 ms` for a pulse, `▁▔▔ held`, `▔▁▁ released`, `▁▁▁` for no movement. */
  draw(mark: number): string {
    const log = this.log;
    let on = mark > 0 && this.energised(log[mark - 1]!.level);
    let glyphs = on ? '▔' : '▁';
    let onAt: number | null = null;
    const pulses: number[] = [];
    for (const w of log.slice(mark)) {
      const e = this.energised(w.level);
      if (e === on) continue;
      glyphs += e ? '▔' : '▁';
      if (e) onAt = w.atMs;
      else if (onAt !== null) pulses.push(w.atMs - onAt);
      on = e;
    }
    if (glyphs.length === 1) return glyphs.repeat(3);
    if (pulses.length > 0) return `${glyphs.padEnd(3, '▁')} ${pulses.map((p) => Math.round(p / 10) * 10).join('+')} ms`;
    return on ? `${glyphs}▔ held` : `${glyphs}▁ released`;
  }
}

// --- verdicts ------------------------------------------------------------------------------------------

/**
 * The verifier as the service sees it (compose's `verifier` override), plus a way for the demo to
 * await the next verdict. The service calls verify(); the demo only listens.
 */
export class VerdictWatch {
  readonly verdicts: Verdict[] = [];
  private waiters: ((v: Verdict) => void)[] = [];

  constructor(
    readonly inner: Verifier,
    private readonly pacer: Pacer,
  ) {}

  async verify(p: Presented): Promise<Verdict> {
    const v = await this.inner.verify(p);
    this.verdicts.push(v);
    this.waiters.shift()?.(v);
    return v;
  }

  currentPolicy() {
    return this.inner.currentPolicy();
  }

  /** Runs `act` (put a code under the scanner, a card on the reader) and resolves with its verdict. */
  async next(act: () => unknown, timeoutMs = 10_000): Promise<Verdict> {
    let got: Verdict | null = null;
    this.waiters.push((v) => (got = v));
    await act();
    await this.pacer.until(() => got !== null, 'a decision', timeoutMs);
    await this.pacer.sleep(5); // the service acts on the verdict right after verify() returns
    return got!;
  }
}
