/**
 * The gate's ports over drivers/gpio: the digital inputs and the indicator. The relay needs no
 * adapter: drivers/gpio's `Relay` is the gate's RelayPort as it is (its `set(level, pulseMs)` holds a
 * level, or pulses and ends the pulse with its own timer, whatever the machine does).
 */
import type { DigitalInput } from '../../drivers/gpio/input.js';
import type { Indicator, PatternName } from '../../drivers/gpio/indicator.js';
import type { IndicatorPort } from './controller.js';
import type { IndicatorPattern } from './machine.js';
import type { DigitalInputPort } from '../service.js';

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
