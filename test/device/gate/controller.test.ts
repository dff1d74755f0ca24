/** The thin driver: real effect application against fake ports, time by vitest's fake timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GateController } from '../../../device/gate/controller.js';
import type { EventBody, GateSettings, Level } from '../../../device/gate/machine.js';
import { decision } from './harness.js';

type Call = { t: number; what: string; detail?: unknown };

function rig(settings: Partial<GateSettings> = {}) {
  const calls: Call[] = [];
  const events: EventBody[] = [];
  let failRecord = false;
  let failRelay = false;
  let seq = 100;
  const gate = new GateController({
    settings,
    now: () => Date.now(),
    relay: {
      set: (level: Level) => {
        if (failRelay) throw new Error('EIO on GPIO17');
        calls.push({ t: Date.now(), what: `relay:${level}` });
      },
    },
    indicator: { show: (p) => void calls.push({ t: Date.now(), what: `indicator:${p}` }) },
    record: (e) => {
      if (failRecord) throw new Error('SQLITE_FULL');
      events.push(e);
      calls.push({ t: Date.now(), what: `event:${e.type}`, detail: e });
      return ++seq;
    },
    newHoldId: () => `hold${seq}`,
  });
  return {
    gate,
    calls,
    events,
    relay: () => calls.filter((c) => c.what.startsWith('relay:')).map((c) => [c.t, c.what.slice(6)]),
    failRecord: (v: boolean) => (failRecord = v),
    failRelay: (v: boolean) => (failRelay = v),
  };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('GateController', () => {
  it('forces the relay safe in its constructor, before boot', () => {
    const r = rig({ failMode: 'safe' });
    expect(r.relay()).toEqual([[0, 'inactive']]);
    r.gate.boot();
    expect(r.relay()).toEqual([
      [0, 'inactive'],
      [0, 'active'],
    ]);
  });

  it('times a pulse with its own timer: released at exactly pulseMs, back to idle at the timeout', () => {
    const r = rig();
    r.gate.boot();
    vi.advanceTimersByTime(1000);
    expect(r.gate.actOn(decision({ pulseMs: 250 }))).toEqual({ kind: 'opened' });
    vi.advanceTimersByTime(249);
    expect(r.gate.snapshot().phase).toBe('pulse');
    vi.advanceTimersByTime(1);
    expect(r.relay()).toEqual([
      [0, 'inactive'],
      [1000, 'active'],
      [1250, 'inactive'],
    ]);
    vi.advanceTimersByTime(5000);
    expect(r.gate.snapshot().phase).toBe('idle');
    expect(r.events.map((e) => e.outcome)).toEqual(['timeout']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a passage input ends the wait early', () => {
    const r = rig();
    r.gate.boot();
    r.gate.actOn(decision());
    vi.advanceTimersByTime(1500);
    r.gate.passage();
    expect(r.gate.snapshot().phase).toBe('idle');
    expect(r.events).toEqual([{ type: 'passage', ref: 1, via: 'decision', outcome: 'passed', afterMs: 1500 }]);
    expect(vi.getTimerCount()).toBe(0); // nothing left to time
  });

  it('guard approval: the override is recorded before the relay moves', () => {
    const r = rig();
    r.gate.boot();
    const held = r.gate.actOn(decision({ result: 'staff', reason: 'STATUS_YELLOW', seq: 7, displayName: '李*' }));
    expect(held.kind).toBe('held');
    const [hold] = r.gate.holds();
    expect(hold).toMatchObject({ maskedName: '李*', reason: 'STATUS_YELLOW', format: 'HP1', issuer: 'CN-330000', ageMs: 0 });
    vi.advanceTimersByTime(3000);
    expect(r.gate.holds()[0]!.ageMs).toBe(3000);

    const result = r.gate.decide(hold!.id, 'approve', 'guard:wang');
    expect(result).toEqual({ ok: true, outcome: { kind: 'opened' }, seq: 101 });
    const order = r.calls.map((c) => c.what);
    expect(order.indexOf('event:override')).toBeLessThan(order.lastIndexOf('relay:active'));
    expect(order.indexOf('event:override')).toBeGreaterThan(-1);
  });

  it('guard approval whose override cannot be recorded changes nothing, and can be retried', () => {
    const r = rig();
    r.gate.boot();
    r.gate.actOn(decision({ result: 'staff', reason: 'STATUS_YELLOW', seq: 7 }));
    const id = r.gate.holds()[0]!.id;
    const before = r.calls.length;
    r.failRecord(true);
    expect(r.gate.decide(id, 'approve', 'guard:wang')).toEqual({ ok: false, error: 'NOT_RECORDED' });
    expect(r.calls.length).toBe(before);
    expect(r.gate.holds()).toHaveLength(1);
    expect(r.gate.snapshot().phase).toBe('idle');
    r.failRecord(false);
    expect(r.gate.decide(id, 'approve', 'guard:wang').ok).toBe(true);
    expect(r.relay().at(-1)![1]).toBe('active');
  });

  it('the fire alarm releases even when the event cannot be recorded', () => {
    const r = rig();
    r.gate.boot();
    r.failRecord(true);
    r.gate.alarm(true);
    expect(r.relay().at(-1)![1]).toBe('active');
    expect(r.gate.snapshot()).toMatchObject({ phase: 'alarm', alarm: true });
  });

  it('a relay write that throws is logged and reported, never thrown at the caller', () => {
    const r = rig();
    r.gate.boot();
    r.failRelay(true);
    expect(() => r.gate.actOn(decision())).not.toThrow();
    expect(r.gate.health().ok).toBe(false);
    r.failRelay(false);
    vi.advanceTimersByTime(300);
    expect(r.gate.health().ok).toBe(true);
  });

  it('a due deadline is ticked before the next input is handled', () => {
    const r = rig();
    r.gate.boot();
    r.gate.actOn(decision({ seq: 1 }));
    // The timer has not run (time jumped without running it), yet the next input sees the truth.
    vi.setSystemTime(6000);
    expect(r.gate.actOn(decision({ seq: 2 }))).toEqual({ kind: 'opened' });
  });

  it('stop releases the relay and cancels every timer', () => {
    const r = rig();
    r.gate.boot();
    r.gate.actOn(decision());
    r.gate.stop();
    expect(r.relay().at(-1)![1]).toBe('inactive');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(r.relay().at(-1)![1]).toBe('inactive');
  });

  it('releaseNow bypasses the machine and never throws', () => {
    const r = rig();
    r.gate.boot();
    r.gate.actOn(decision());
    r.gate.releaseNow();
    expect(r.relay().at(-1)![1]).toBe('inactive');
    r.failRelay(true);
    expect(() => r.gate.releaseNow()).not.toThrow();
  });
});
