import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryGpio, type GpioLine } from '../../../drivers/gpio/line.js';
import { Relay } from '../../../drivers/gpio/relay.js';
import { contactActiveLevel, DigitalInput, openFireAlarmInput, openPassageSensor } from '../../../drivers/gpio/input.js';
import { DEFAULT_PATTERNS, Indicator } from '../../../drivers/gpio/indicator.js';

describe('Relay (fake timers)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const open = async (options: Partial<Parameters<typeof Relay.open>[1]> = {}) => {
    const gpio = new MemoryGpio();
    const relay = await Relay.open(gpio, { line: 17, maxPulseMs: 500, pulseMs: 200, now: () => Date.now(), ...options });
    return { gpio, relay };
  };

  it('starts released: the first level written to an active-low line is high', async () => {
    const { gpio, relay } = await open();
    expect(gpio.writes(17)[0]).toBe(1);
    expect(gpio.level(17)).toBe(1);
    expect(relay.energised).toBe(false);
  });

  it('pulse energises for the requested time and resolves on release', async () => {
    const { gpio, relay } = await open();
    let done = false;
    void relay.pulse(200).then(() => (done = true));
    expect(gpio.level(17)).toBe(0);
    await vi.advanceTimersByTimeAsync(199);
    expect(gpio.level(17)).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(gpio.level(17)).toBe(1);
    expect(done).toBe(true);
  });

  it('a pulse never exceeds the cap, even when asked for more or extended repeatedly', async () => {
    const { gpio, relay } = await open();
    void relay.pulse(10_000);
    await vi.advanceTimersByTimeAsync(499);
    expect(relay.energised).toBe(true);
    void relay.pulse(400); // extension asked at 499 ms: still ends at the 500 ms cap
    await vi.advanceTimersByTimeAsync(1);
    expect(relay.energised).toBe(false);
    expect(gpio.level(17)).toBe(1);
    expect(relay.stats.capped).toBe(2);
    // keep re-pulsing every 100 ms for 3 s: never energised for more than 500 ms in a row
    let energisedSince: number | null = null;
    let longest = 0;
    for (let t = 0; t < 3000; t += 10) {
      if (t % 100 === 0) void relay.pulse(300);
      await vi.advanceTimersByTimeAsync(10);
      if (relay.energised) energisedSince ??= Date.now();
      else if (energisedSince !== null) {
        longest = Math.max(longest, Date.now() - energisedSince);
        energisedSince = null;
      }
    }
    expect(longest).toBeLessThanOrEqual(500);
  });

  it('release is idempotent and close releases; an active-high relay inverts', async () => {
    const { gpio, relay } = await open();
    void relay.pulse();
    relay.release();
    relay.release();
    expect(gpio.level(17)).toBe(1);
    void relay.pulse();
    relay.close();
    expect(gpio.level(17)).toBe(1);
    expect(gpio.claimed(17)).toBe(false);
    await expect(relay.pulse()).rejects.toThrow(/relay is closed/);
    const high = await open({ line: 18, activeLow: false });
    expect(high.gpio.writes(18)[0]).toBe(0);
    void high.relay.pulse(50);
    expect(high.gpio.level(18)).toBe(1);
  });

  it('rejects bad lengths and keeps retrying a release that fails', async () => {
    const { relay } = await open();
    await expect(relay.pulse(0)).rejects.toThrow(/positive number of ms/);
    expect(() => new Relay(fakeLine(), { line: 1, maxPulseMs: 5 })).toThrow(/maxPulseMs must be between 10 and 10000, got 5/);
    let failures = 2;
    const written: number[] = [];
    const flaky: GpioLine = {
      ...fakeLine(),
      write(v) {
        if (v === 1 && written.length > 0 && failures-- > 0) throw new Error('EIO');
        written.push(v);
      },
    };
    const r = new Relay(flaky, { line: 1, maxPulseMs: 100, now: () => Date.now() });
    void r.pulse(100);
    await vi.advanceTimersByTimeAsync(100);
    expect(written.at(-1)).toBe(0); // release failed, still energised
    await vi.advanceTimersByTimeAsync(100);
    expect(written.at(-1)).toBe(1);
    expect(r.stats.releaseFailures).toBe(2);
  });
});

describe('DigitalInput (memory GPIO)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('debounces: a bounce shorter than debounceMs is ignored, a held change is reported once', async () => {
    const gpio = new MemoryGpio();
    const input = await DigitalInput.open(gpio, { line: 22, debounceMs: 20 });
    const seen: boolean[] = [];
    input.on('change', (a) => seen.push(a));
    gpio.set(22, 1);
    await vi.advanceTimersByTimeAsync(5);
    gpio.set(22, 0);
    await vi.advanceTimersByTimeAsync(5);
    gpio.set(22, 1);
    await vi.advanceTimersByTimeAsync(19);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([true]);
    gpio.set(22, 0);
    gpio.set(22, 1);
    await vi.advanceTimersByTimeAsync(50);
    expect(seen).toEqual([true]);
  });

  it('contact wiring: NC with pull-up is active high, NO active low; pull-down swaps', async () => {
    expect(contactActiveLevel('normally-closed', 'up')).toBe(1);
    expect(contactActiveLevel('normally-open', 'up')).toBe(0);
    expect(contactActiveLevel('normally-closed', 'down')).toBe(0);
    expect(contactActiveLevel('normally-open', 'down')).toBe(1);
    const gpio = new MemoryGpio();
    gpio.set(4, 0);
    const nc = await openFireAlarmInput(gpio, { line: 4 });
    expect([nc.active, nc.activeLevel, nc.debounceMs]).toEqual([false, 1, 50]);
    gpio.set(5, 1);
    const no = await openFireAlarmInput(gpio, { line: 5, contact: 'normally-open' });
    expect(no.active).toBe(false);
    const pass = await openPassageSensor(gpio, { line: 6 });
    expect(pass.activeLevel).toBe(1);
  });
});

describe('Indicator', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('plays patterns on the configured channels, honours active-low, and a new show cuts the old', async () => {
    const gpio = new MemoryGpio();
    const ind = await Indicator.open(gpio, { green: { line: 5 }, red: { line: 6 }, buzzer: { line: 13, activeLow: true } });
    expect([gpio.level(5), gpio.level(6), gpio.level(13)]).toEqual([0, 0, 1]);
    let openDone = false;
    void ind.show('open').then(() => (openDone = true));
    expect([gpio.level(5), gpio.level(13)]).toEqual([1, 0]); // green on, buzzer (active-low) on
    await vi.advanceTimersByTimeAsync(120);
    expect([gpio.level(5), gpio.level(13)]).toEqual([1, 1]);
    const deny = ind.show('deny');
    await vi.advanceTimersByTimeAsync(0);
    expect(openDone).toBe(true);
    expect([gpio.level(5), gpio.level(6)]).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(DEFAULT_PATTERNS.deny.reduce((s, p) => s + p.ms, 0));
    await deny;
    expect([gpio.level(5), gpio.level(6), gpio.level(13)]).toEqual([0, 0, 1]);
    expect(ind.current).toBeNull();
    void ind.show('staff'); // amber is not configured: skipped, buzzer still sounds
    expect(gpio.level(13)).toBe(0);
    ind.close();
    expect(gpio.level(13)).toBe(1);
  });

  it('validates custom patterns', () => {
    expect(() => new Indicator({}, { patterns: { open: [{ on: ['green'], ms: 0 }] } })).toThrow(/step length must be between 1 and 60000 ms/);
  });
});

function fakeLine(): GpioLine {
  return { write() {}, read: () => 0, watch: () => () => {}, close() {} };
}
