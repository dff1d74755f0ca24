/**
 * GPIO lines as the relay, inputs and indicators see them: physical levels only (0 = low, 1 = high).
 * Active-low wiring is inverted in `Relay`/`DigitalInput`/`Indicator`, never in the kernel, so a
 * line's level is always what the pin does.
 *
 * An output is requested together with its first level (`output(line, initial)`): there is no way
 * to make an output without saying which level is safe.
 */
import { PassgateError } from '../../base/errors.js';

export type Level = 0 | 1;

export interface GpioLine {
  write(value: Level): void;
  read(): Level;
  /** Calls back on level changes (inputs are polled by the sysfs implementation); returns an unsubscribe. */
  watch(callback: (value: Level) => void): () => void;
  close(): void;
}

export interface InputLineOptions {
  /** sysfs polling period for `watch`, [1…1000] ms, default 5. */
  pollMs?: number;
}

export interface GpioChip {
  /** Claims BCM line `line` as an output driven to `initial` from its first instant. */
  output(line: number, initial: Level): Promise<GpioLine>;
  input(line: number, options?: InputLineOptions): Promise<GpioLine>;
}

/**
 * In-memory GPIO for the demo and tests: records every level written to each output, and lets the
 * test (or simulator) drive inputs with `set()`.
 */
export class MemoryGpio implements GpioChip {
  readonly #lines = new Map<number, MemoryLine>();
  readonly #observers = new Map<number, Set<(level: Level) => void>>();

  async output(line: number, initial: Level): Promise<GpioLine> {
    const l = this.#claim(line, 'out', initial);
    l.written(initial);
    return l;
  }

  async input(line: number): Promise<GpioLine> {
    return this.#claim(line, 'in', this.#lines.get(line)?.level ?? 0);
  }

  /** Drives an input line from outside (a sensor, a test). */
  set(line: number, value: Level): void {
    let l = this.#lines.get(line);
    if (!l) this.#lines.set(line, (l = new MemoryLine(line, 'in', value, this.#notifier(line))));
    l.external(value);
  }

  /** Current physical level of a line, undefined if never claimed or set. */
  level(line: number): Level | undefined {
    return this.#lines.get(line)?.level;
  }

  /** Every level written to an output, the initial one first. */
  writes(line: number): readonly Level[] {
    return this.#lines.get(line)?.writes ?? [];
  }

  /** Calls `fn` with every level written to `line` from now on (the initial one too); returns an unsubscribe. */
  observe(line: number, fn: (level: Level) => void): () => void {
    let set = this.#observers.get(line);
    if (!set) this.#observers.set(line, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  claimed(line: number): boolean {
    return this.#lines.get(line)?.claimed ?? false;
  }

  #notifier(line: number): (level: Level) => void {
    return (v) => this.#observers.get(line)?.forEach((fn) => fn(v));
  }

  #claim(line: number, direction: 'in' | 'out', level: Level): MemoryLine {
    const existing = this.#lines.get(line);
    if (existing?.claimed) throw new PassgateError('LINE_IN_USE', `GPIO line ${line} is already in use`);
    const l = existing ?? new MemoryLine(line, direction, level, this.#notifier(line));
    l.direction = direction;
    l.level = level;
    l.claimed = true;
    this.#lines.set(line, l);
    return l;
  }
}

class MemoryLine implements GpioLine {
  readonly writes: Level[] = [];
  claimed = false;
  readonly #watchers = new Set<(v: Level) => void>();

  constructor(
    readonly line: number,
    public direction: 'in' | 'out',
    public level: Level,
    private readonly notify: (level: Level) => void = () => {},
  ) {}

  write(value: Level): void {
    if (!this.claimed) throw new PassgateError('DRIVER_CLOSED', `GPIO line ${this.line} is closed`);
    if (this.direction !== 'out') throw new PassgateError('NOT_AN_OUTPUT', `GPIO line ${this.line} is an input`);
    this.written(value);
    this.#change(value);
  }

  /** Records a level written to this output and tells the chip's observers. */
  written(value: Level): void {
    this.writes.push(value);
    this.notify(value);
  }

  read(): Level {
    return this.level;
  }

  watch(callback: (value: Level) => void): () => void {
    this.#watchers.add(callback);
    return () => void this.#watchers.delete(callback);
  }

  close(): void {
    this.claimed = false;
    this.#watchers.clear();
  }

  external(value: Level): void {
    this.#change(value);
  }

  #change(value: Level): void {
    if (value === this.level) return;
    this.level = value;
    for (const w of [...this.#watchers]) w(value);
  }
}
