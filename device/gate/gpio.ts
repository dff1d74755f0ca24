/**
 * The gate's ports over drivers/gpio: the relay, the digital inputs and the indicator.
 *
 * The relay is driven through its `GpioLine` here rather than through drivers/gpio's `Relay`
 * class: `Relay` models a pulse-only contact whose energised time is always capped, but the gate
 * must also HOLD a level — the energised idle of a fail-safe maglock, and the fire-alarm release of
 * a fail-secure gate, both for as long as they last. Pulse lengths are capped by the gate machine
 * (machine.ts HARD_MAX_PULSE_MS, property-tested). The line is requested with the relay's safe
 * (de-energised) level as its first level, exactly as `Relay.open` does.
 */
import type { GpioChip, GpioLine, Level as PinLevel } from '../../drivers/gpio/line.js';
import type { DigitalInput } from '../../drivers/gpio/input.js';
import type { Indicator, PatternName } from '../../drivers/gpio/indicator.js';
import type { IndicatorPort, RelayPort } from './controller.js';
import type { IndicatorPattern, Level } from './machine.js';
import type { DigitalInputPort } from '../service.js';

/** The pin level that leaves an (active-low or not) relay board de-energised. */
export function safePinLevel(activeLow: boolean): PinLevel {
  return activeLow ? 1 : 0;
}

export function pinLevel(level: Level, activeLow: boolean): PinLevel {
  const energised = level === 'active';
  return energised === activeLow ? 0 : 1;
}

export interface LineRelayLogger {
  error(obj: object, msg: string): void;
}

/** The relay as a RelayPort over one output line. Writes are synchronous (the crash path relies on it). */
export class LineRelay implements RelayPort {
  private fault: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  /** Claims the line with the safe level as its very first level. */
  static async open(chip: GpioChip, line: number, activeLow: boolean, log?: LineRelayLogger): Promise<LineRelay> {
    return new LineRelay(await chip.output(line, safePinLevel(activeLow)), activeLow, log);
  }

  constructor(
    private readonly line: GpioLine,
    readonly activeLow: boolean,
    private readonly log?: LineRelayLogger,
  ) {}

  set(level: Level): void {
    if (this.closed) throw new Error('relay line is closed');
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    try {
      this.line.write(pinLevel(level, this.activeLow));
      this.fault = null;
    } catch (err) {
      this.fault = err instanceof Error ? err.message : String(err);
      // A relay that cannot be put back to safe must not be left alone: keep trying.
      if (level === 'inactive') this.retry = setTimeout(() => this.safeRetry(), 50);
      throw err;
    }
  }

  health(): { ok: boolean; detail?: string } {
    return this.fault ? { ok: false, detail: this.fault } : { ok: true };
  }

  /** Safe level, then frees the line (which keeps driving it). */
  close(): void {
    if (this.closed) return;
    try {
      this.set('inactive');
    } catch (err) {
      this.log?.error({ err }, 'relay could not be released on close');
    }
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.line.close();
  }

  private safeRetry(): void {
    try {
      this.set('inactive');
    } catch (err) {
      this.log?.error({ err }, 'relay release failed; retrying');
    }
  }
}

/** A drivers/gpio DigitalInput as the service's port (its debounced `active` is the level). */
export function inputPort(input: DigitalInput): DigitalInputPort & { close(): void } {
  return {
    on: (event, listener) => input.on(event, listener),
    off: (event, listener) => input.off(event, listener),
    read: () => input.active,
    close: () => input.close(),
  };
}

/** The gate's patterns on drivers/gpio's Indicator (green/red/amber/buzzer patterns). */
export const PATTERN_MAP: Readonly<Record<IndicatorPattern, PatternName | null>> = {
  off: null,
  ready: 'ready',
  open: 'open',
  deny: 'deny',
  hold: 'staff',
  busy: 'staff',
  alarm: 'error',
};

export function indicatorPort(indicator: Indicator): IndicatorPort & { close(): void } {
  return {
    show: (pattern) => {
      const name = PATTERN_MAP[pattern];
      if (name === null) indicator.off();
      else void indicator.show(name).catch(() => {});
    },
    close: () => indicator.close(),
  };
}
