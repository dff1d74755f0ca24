/**
 * Part of the simulated twin: watches a relay's line on the in-memory GPIO and tells, with a time
 * for every write, when the coil was energised — whatever the board's active-low wiring. The one
 * relay probe: the demo draws the relay with it, the bench times "commit → relay energised" with it,
 * tests assert pulses with it.
 */
import type { Level, MemoryGpio } from './line.js';

export interface RelayWrite {
  energised: boolean;
  /** `now()` when the level was written. */
  atMs: number;
}

export class RelayProbe {
  readonly #writes: RelayWrite[] = [];
  readonly #stop: () => void;
  #waiter: { resolve: (atMs: number) => void; reject: (e: Error) => void } | null = null;

  /** Watches `line` from now on; a line already claimed starts the record with its current level. */
  constructor(
    gpio: MemoryGpio,
    line: number,
    readonly activeLow: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {
    const current = gpio.level(line);
    if (current !== undefined && gpio.claimed(line)) this.#writes.push({ energised: this.#energised(current), atMs: this.now() });
    this.#stop = gpio.observe(line, (level) => this.#written(level));
  }

  /** Every level written, oldest first. */
  get writes(): readonly RelayWrite[] {
    return this.#writes;
  }

  get energised(): boolean {
    return this.#writes.at(-1)?.energised ?? false;
  }

  /** A position in the record, for the `…Since` questions. */
  mark(): number {
    return this.#writes.length;
  }

  /** Energised at some point since `mark` and at rest now. */
  pulsedSince(mark: number): boolean {
    return this.#writes.slice(mark).some((w) => w.energised) && !this.energised;
  }

  /** The first energising write since `mark`. */
  energisedSince(mark: number): RelayWrite | undefined {
    return this.#writes.slice(mark).find((w) => w.energised);
  }

  /** The writes since `mark` that changed the coil's state (a level written again is not a change). */
  changesSince(mark: number): RelayWrite[] {
    let on = mark > 0 && this.#writes[mark - 1]!.energised;
    return this.#writes.slice(mark).filter((w) => {
      const changed = w.energised !== on;
      on = w.energised;
      return changed;
    });
  }

  /** How long each pulse that began and ended since `mark` lasted, ms. */
  pulsesSince(mark: number): number[] {
    const pulses: number[] = [];
    let onAt: number | null = null;
    for (const w of this.changesSince(mark)) {
      if (w.energised) onAt = w.atMs;
      else if (onAt !== null) pulses.push(w.atMs - onAt);
    }
    return pulses;
  }

  lastChangeAt(): number {
    return this.#writes.at(-1)?.atMs ?? 0;
  }

  /**
   * Resolves with the time of the next energising write (taken in the write itself, so nothing
   * between the write and the timestamp); rejects after `timeoutMs`, on `fail(why)` or on close().
   * One wait at a time: a new one replaces a pending one, which then only times out.
   */
  nextEnergised(timeoutMs: number, what: string): { at: Promise<number>; fail: (why: string) => void } {
    let timer: NodeJS.Timeout | undefined;
    let waiter: { resolve: (atMs: number) => void; reject: (e: Error) => void } | undefined;
    const at = new Promise<number>((resolve, reject) => {
      waiter = this.#waiter = { resolve, reject };
      timer = setTimeout(() => reject(new Error(`relay was not energised within ${timeoutMs} ms (${what})`)), timeoutMs);
    }).finally(() => {
      clearTimeout(timer);
      if (this.#waiter === waiter) this.#waiter = null;
    });
    // A wait abandoned by its caller (a failed sample, close()) must not surface as an unhandled rejection.
    at.catch(() => {});
    return { at, fail: (why) => waiter?.reject(new Error(`${what}: relay not energised: ${why}`)) };
  }

  /** Stops watching; a pending wait is rejected. */
  close(): void {
    this.#stop();
    this.#waiter?.reject(new Error('relay probe closed'));
  }

  #written(level: Level): void {
    const w = { energised: this.#energised(level), atMs: this.now() };
    this.#writes.push(w);
    if (w.energised && this.#waiter) this.#waiter.resolve(w.atMs);
  }

  #energised(level: Level): boolean {
    return this.activeLow ? level === 0 : level === 1;
  }
}
