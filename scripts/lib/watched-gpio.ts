/**
 * The one relay probe of the demo, the benchmarks and the tests: an in-memory GPIO chip (pass it to
 * compose as `gpioChip`) that time-stamps every level written to an output and can wait for the
 * next write of a level — so the relay can be drawn, timed or awaited from outside the gate.
 */
import { MemoryGpio, type GpioLine, type Level } from '../../drivers/gpio/line.js';

export interface TimedWrite {
  level: Level;
  atMs: number;
}

export class WatchedGpio extends MemoryGpio {
  readonly written = new Map<number, TimedWrite[]>();
  #waiters: { line: number; level: Level; resolve: (atMs: number) => void }[] = [];

  override async output(line: number, initial: Level): Promise<GpioLine> {
    const inner = await super.output(line, initial);
    const log: TimedWrite[] = [{ level: initial, atMs: performance.now() }];
    this.written.set(line, log);
    return {
      write: (v) => {
        inner.write(v);
        const atMs = performance.now();
        log.push({ level: v, atMs });
        const due = this.#waiters.filter((w) => w.line === line && w.level === v);
        this.#waiters = this.#waiters.filter((w) => !due.includes(w));
        for (const w of due) w.resolve(atMs);
      },
      read: () => inner.read(),
      watch: (cb) => inner.watch(cb),
      close: () => inner.close(),
    };
  }

  /** Resolves with the time of the next write of `level` to `line`; rejects after `timeoutMs`, naming `what`. */
  nextWrite(line: number, level: Level, timeoutMs: number, what: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter = {
        line,
        level,
        resolve: (atMs: number) => {
          clearTimeout(timer);
          resolve(atMs);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`GPIO ${line} was not written ${level} within ${timeoutMs} ms (${what})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Drops every waiter (the bench's failed sample): they never resolve. */
  cancelWaits(): void {
    this.#waiters = [];
  }
}
