/**
 * `Indicator`: LEDs and a buzzer for the result of a scan. Patterns are data: a list of steps, each
 * naming the channels that are on for `ms`; after the last step everything is off. A new `show()`
 * cuts the running pattern short.
 */
import { PassgateError } from '../../base/errors.js';
import { checkInteger } from '../../base/check.js';
import type { GpioChip, GpioLine, Level } from './line.js';

export type Channel = 'green' | 'red' | 'amber' | 'buzzer';
export type PatternName = 'open' | 'deny' | 'staff' | 'error' | 'ready';
export type Pattern = ReadonlyArray<{ on: readonly Channel[]; ms: number }>;

const blink = (on: readonly Channel[], times: number, onMs: number, offMs: number): Pattern =>
  Array.from({ length: times }, () => [{ on, ms: onMs }, { on: [] as Channel[], ms: offMs }]).flat();

export const DEFAULT_PATTERNS: Readonly<Record<PatternName, Pattern>> = {
  /** Green for 1.5 s with one short beep. */
  open: [{ on: ['green', 'buzzer'], ms: 120 }, { on: ['green'], ms: 1380 }],
  /** Red for 2 s with two beeps. */
  deny: [{ on: ['red', 'buzzer'], ms: 150 }, { on: ['red'], ms: 100 }, { on: ['red', 'buzzer'], ms: 150 }, { on: ['red'], ms: 1600 }],
  /** Amber blinking: a guard must look. */
  staff: [{ on: ['amber', 'buzzer'], ms: 300 }, { on: [], ms: 200 }, ...blink(['amber'], 4, 300, 200)],
  /** Red and amber alternating: the gate itself has a fault. */
  error: Array.from({ length: 4 }, () => [{ on: ['red'] as Channel[], ms: 250 }, { on: ['amber'] as Channel[], ms: 250 }]).flat(),
  /** All off. */
  ready: [],
};

export interface IndicatorChannelConfig {
  /** BCM line number. */
  line: number;
  /** The LED/buzzer driver is on when the pin is low; default false. */
  activeLow?: boolean;
}

export interface IndicatorOptions {
  patterns?: Partial<Record<PatternName, Pattern>>;
}

interface Output {
  line: GpioLine;
  activeLow: boolean;
}

export class Indicator {
  readonly #outputs: Partial<Record<Channel, Output>>;
  readonly #patterns: Record<PatternName, Pattern>;
  #run = 0;
  #timer: NodeJS.Timeout | null = null;
  #done: (() => void) | null = null;
  #current: PatternName | null = null;

  /** Claims the configured lines, all starting off. */
  static async open(chip: GpioChip, channels: Partial<Record<Channel, IndicatorChannelConfig>>, options: IndicatorOptions = {}): Promise<Indicator> {
    const outputs: Partial<Record<Channel, Output>> = {};
    for (const [name, cfg] of Object.entries(channels) as Array<[Channel, IndicatorChannelConfig]>) {
      checkInteger(`${name}.line`, cfg.line, 0, 53);
      const activeLow = cfg.activeLow ?? false;
      outputs[name] = { line: await chip.output(cfg.line, activeLow ? 1 : 0), activeLow };
    }
    return new Indicator(outputs, options);
  }

  constructor(outputs: Partial<Record<Channel, Output>>, options: IndicatorOptions = {}) {
    this.#outputs = outputs;
    this.#patterns = { ...DEFAULT_PATTERNS, ...options.patterns };
    for (const [name, pattern] of Object.entries(this.#patterns)) {
      for (const step of pattern) {
        if (!Number.isInteger(step.ms) || step.ms < 1 || step.ms > 60_000) {
          throw new PassgateError('BAD_CONFIG', `pattern ${name}: step length must be between 1 and 60000 ms, got ${step.ms}`);
        }
      }
    }
    this.#apply([]);
  }

  /** The pattern running now, or null. */
  get current(): PatternName | null {
    return this.#current;
  }

  /** Plays a pattern; resolves when it ends or is replaced. Unconfigured channels are skipped. */
  show(name: PatternName): Promise<void> {
    const pattern = this.#patterns[name];
    if (!pattern) return Promise.reject(new PassgateError('BAD_CONFIG', `unknown indicator pattern ${String(name)}`));
    this.#stop();
    const run = ++this.#run;
    this.#current = name;
    return new Promise<void>((resolve) => {
      this.#done = resolve;
      const step = (i: number): void => {
        if (run !== this.#run) return;
        const s = pattern[i];
        if (!s) {
          this.#apply([]);
          this.#current = null;
          this.#finish();
          return;
        }
        this.#apply(s.on);
        this.#timer = setTimeout(() => step(i + 1), s.ms);
      };
      step(0);
    });
  }

  /** Everything off now. */
  off(): void {
    this.#stop();
    this.#apply([]);
  }

  close(): void {
    this.off();
    for (const o of Object.values(this.#outputs)) o?.line.close();
  }

  #stop(): void {
    this.#run++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#current = null;
    this.#finish();
  }

  #finish(): void {
    const done = this.#done;
    this.#done = null;
    done?.();
  }

  #apply(on: readonly Channel[]): void {
    for (const [name, o] of Object.entries(this.#outputs) as Array<[Channel, Output]>) {
      const lit = on.includes(name);
      const level: Level = lit !== o.activeLow ? 1 : 0;
      o.line.write(level);
    }
  }
}
