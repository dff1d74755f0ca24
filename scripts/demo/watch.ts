/**
 * Watching the gate from outside, as a person beside it would: the relay drawn from its probe
 * (drivers/gpio/probe.ts), each verdict as it comes, and waiting — interruptibly, so Ctrl-C
 * stops the story between two steps.
 */
import { performance } from 'node:perf_hooks';
import type { Verdict, Verifier } from '../../device/verifier.js';
import type { Presented } from '../../device/core/types.js';
import type { MemoryGpio, RelayProbe } from '../../drivers/gpio/index.js';

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
  async pulse(chip: MemoryGpio, line: number, msHigh = 60): Promise<void> {
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

/** The relay since `mark` as its coil saw it: `▁▔▁ 300 ms` for a pulse, `▁▔▔ held`, `▔▁▁ released`, `▁▁▁` for no movement. */
export function drawRelay(relay: RelayProbe, mark: number): string {
  const changes = relay.changesSince(mark);
  const before = mark > 0 && relay.writes[mark - 1]!.energised;
  const glyphs = [before, ...changes.map((w) => w.energised)].map((e) => (e ? '▔' : '▁')).join('');
  if (changes.length === 0) return glyphs.repeat(3);
  const pulses = relay.pulsesSince(mark);
  if (pulses.length > 0) return `${glyphs.padEnd(3, '▁')} ${pulses.map((p) => Math.round(p / 10) * 10).join('+')} ms`;
  return changes.at(-1)!.energised ? `${glyphs}▔ held` : `${glyphs}▁ released`;
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
