/** The gate's ports over drivers/gpio, on the in-memory GPIO twin: pin levels as the relay board sees them. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryGpio, openFireAlarmInput, openPassageSensor, Indicator, Relay, deEnergisedPin, pinLevel } from '../../../drivers/gpio/index.js';
import { PATTERN_MAP, indicatorPort, inputPort } from '../../../device/gate/gpio.js';
import { GateController, type TimerPort } from '../../../device/gate/controller.js';
import { decision } from './harness.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the relay as the gate port (drivers/gpio Relay)', () => {
  it('an active-low board: the line is born high (de-energised), active pulls it low', async () => {
    const gpio = new MemoryGpio();
    const relay = await Relay.open(gpio, { line: 17, activeLow: true });
    expect(gpio.writes(17)[0]).toBe(1);
    expect(gpio.level(17)).toBe(1);
    relay.set('active');
    relay.set('inactive');
    expect(gpio.writes(17).slice(-2)).toEqual([0, 1]);
    relay.set('active');
    relay.close();
    expect(gpio.level(17)).toBe(1);
    expect(gpio.claimed(17)).toBe(false);
    expect(() => relay.set('active')).toThrow(/closed/);
  });

  it('an active-high board: born low', async () => {
    const gpio = new MemoryGpio();
    const relay = await Relay.open(gpio, { line: 5, activeLow: false });
    relay.set('active');
    expect(gpio.writes(5).at(0)).toBe(0);
    expect(gpio.level(5)).toBe(1);
    expect([deEnergisedPin(false), deEnergisedPin(true)]).toEqual([0, 1]);
    expect([pinLevel('active', true), pinLevel('active', false), pinLevel('inactive', true), pinLevel('inactive', false)]).toEqual([0, 1, 1, 0]);
  });

  it('a failed write is reported unhealthy, and a failed release is retried until it works', async () => {
    vi.useFakeTimers();
    let fail = true;
    const writes: number[] = [];
    const line = {
      write: (v: 0 | 1) => {
        if (fail) throw new Error('EIO');
        writes.push(v);
      },
      read: () => 1 as const,
      watch: () => () => {},
      close: () => {},
    };
    const relay = new Relay(line, { line: 1, activeLow: true });
    expect(() => relay.set('inactive')).toThrow('EIO');
    expect(relay.health()).toEqual({ ok: false, detail: 'EIO' });
    fail = false;
    vi.advanceTimersByTime(60);
    expect(writes).toEqual([1]);
    expect(relay.health()).toEqual({ ok: true });
  });

  /** A booted gate on a Relay over the in-memory twin (fake timers from 0). */
  async function gateOnRelay(maxPulseMs: number, timers?: TimerPort) {
    vi.useFakeTimers({ now: 0 });
    const gpio = new MemoryGpio();
    const relay = await Relay.open(gpio, { line: 17, activeLow: true, maxPulseMs });
    const gate = new GateController({ relay, record: () => 1, now: () => Date.now(), ...(timers ? { timers } : {}) });
    gate.boot();
    return { gpio, relay, gate };
  }

  it('drives a gate pulse end to end: pin low for exactly pulseMs, then high', async () => {
    const { gpio, gate } = await gateOnRelay(2000);
    gate.decision(decision({ pulseMs: 400 }));
    expect(gpio.level(17)).toBe(0);
    vi.advanceTimersByTime(399);
    expect(gpio.level(17)).toBe(0);
    vi.advanceTimersByTime(1);
    expect(gpio.level(17)).toBe(1);
    gate.stop();
  });

  it('defect 3: the relay ends a gate pulse by itself, even when the gate machine never gets to', async () => {
    // A controller whose timers never fire: a stalled machine that would leave the relay energised.
    const { gpio, relay, gate } = await gateOnRelay(2000, { set: () => 0, clear: () => {} });
    gate.decision(decision({ pulseMs: 400 }));
    expect(relay.energised).toBe(true);
    vi.advanceTimersByTime(400);
    expect(gpio.level(17)).toBe(1);
    expect(relay.energised).toBe(false);
    expect(relay.stats.endedByRelay).toBe(1);
  });

  it('a fire alarm on a fail-secure gate holds the relay energised: holds are not pulses, never capped', async () => {
    const { gpio, gate } = await gateOnRelay(100);
    gate.alarm(true);
    vi.advanceTimersByTime(10_000);
    expect(gpio.level(17)).toBe(0);
    gate.alarm(false);
    expect(gpio.level(17)).toBe(1);
    gate.stop();
  });
});

describe('inputs', () => {
  it('a normally-closed fire alarm contact with pull-up: a cut wire (line high) is an alarm', async () => {
    vi.useFakeTimers();
    const gpio = new MemoryGpio();
    const port = inputPort(await openFireAlarmInput(gpio, { line: 22 }));
    expect(port.read!()).toBe(false);
    const seen: boolean[] = [];
    port.on('change', (a) => seen.push(a));
    gpio.set(22, 1);
    vi.advanceTimersByTime(50);
    expect(seen).toEqual([true]);
    expect(port.read!()).toBe(true);
    port.close();
  });

  it('a passage sensor reports a passage as active', async () => {
    vi.useFakeTimers();
    const gpio = new MemoryGpio();
    const port = inputPort(await openPassageSensor(gpio, { line: 27, debounceMs: 0 }));
    const seen: boolean[] = [];
    port.on('change', (a) => seen.push(a));
    gpio.set(27, 1);
    gpio.set(27, 0);
    expect(seen).toEqual([true, false]);
  });
});

describe('indicator', () => {
  it('maps every gate pattern to a driver pattern (or off)', async () => {
    vi.useFakeTimers();
    const gpio = new MemoryGpio();
    const indicator = await Indicator.open(gpio, { green: { line: 5 }, red: { line: 6 }, amber: { line: 13 } });
    const port = indicatorPort(indicator);
    port.show('open');
    expect(gpio.level(5)).toBe(1);
    port.show('deny');
    expect([gpio.level(5), gpio.level(6)]).toEqual([0, 1]);
    port.show('hold');
    expect(gpio.level(13)).toBe(1);
    port.show('off');
    expect([gpio.level(5), gpio.level(6), gpio.level(13)]).toEqual([0, 0, 0]);
    expect(Object.keys(PATTERN_MAP).sort()).toEqual(['alarm', 'busy', 'deny', 'hold', 'off', 'open', 'ready']);
    port.close();
  });
});
