/** The pure gate machine, stepped by hand through time (no timers at all). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FLASH_MS,
  HARD_MAX_PULSE_MS,
  MIN_PULSE_MS,
  PULSE_GAP_MS,
  begin,
  lockedLevel,
  normaliseSettings,
  pulseLength,
  freeLevel,
  step,
  type FailMode,
  type GateInput,
} from '../../../device/gate/machine.js';
import { Harness, decision, open, staff } from './harness.js';

describe('start', () => {
  it('forces the relay to its safe (de-energised) level before anything else, indicator off', () => {
    const s = begin();
    expect(s.state.phase.name).toBe('start');
    expect(s.effects[0]).toEqual({ kind: 'relay', level: 'inactive' });
    expect(s.effects).toContainEqual({ kind: 'indicator', pattern: 'off' });
  });

  it('boot: fail-secure stays de-energised (locked); fail-safe energises the lock', () => {
    const secure = new Harness({ failMode: 'secure' });
    expect(secure.phase).toBe('idle');
    expect(secure.relayChanges().map((c) => c.level)).toEqual(['inactive']);
    const safe = new Harness({ failMode: 'safe' });
    expect(safe.relayChanges().map((c) => c.level)).toEqual(['inactive', 'active']);
    expect(safe.last.effects).toContainEqual({ kind: 'indicator', pattern: 'ready' });
  });

  it('refuses to open before boot, and records that the granted pass went nowhere', () => {
    const h = new Harness({}, false);
    const s = h.feed(open(7));
    expect(s.outcome).toEqual({ kind: 'refused', why: 'NOT_RUNNING' });
    expect(h.relayChanges()).toHaveLength(1);
    expect(h.events('passage')).toEqual([{ type: 'passage', ref: 7, via: 'decision', outcome: 'refused', why: 'NOT_RUNNING' }]);
  });
});

describe('pulse', () => {
  it('is exactly policy.pulseMs long, then the gate waits for the passage', () => {
    const h = new Harness();
    h.now = 1000;
    const s = h.feed(open(1, 300));
    expect(s.outcome).toEqual({ kind: 'opened' });
    expect(s.effects).toContainEqual({ kind: 'relay', level: 'active' });
    expect(s.effects).toContainEqual({ kind: 'indicator', pattern: 'open' });
    expect(s.deadline).toBe(1300);
    h.advance(299);
    expect(h.phase).toBe('pulse');
    h.advance(1);
    expect(h.phase).toBe('passage');
    expect(h.relayChanges().slice(-2)).toEqual([
      { t: 1000, level: 'active' },
      { t: 1300, level: 'inactive' },
    ]);
  });

  it('is capped by gate.maxPulseMs, and by the hard cap whatever the settings say', () => {
    expect(pulseLength(normaliseSettings({ maxPulseMs: 800 }), 5000)).toBe(800);
    expect(normaliseSettings({ maxPulseMs: 60_000 }).maxPulseMs).toBe(HARD_MAX_PULSE_MS);
    expect(pulseLength(normaliseSettings({ maxPulseMs: 60_000 }), 60_000)).toBe(HARD_MAX_PULSE_MS);
    expect(pulseLength(normaliseSettings(), 1)).toBe(MIN_PULSE_MS);
    expect(pulseLength(normaliseSettings(), Number.NaN)).toBe(MIN_PULSE_MS);

    // A hand-built settings object that skipped normaliseSettings still cannot exceed the hard cap.
    const h = new Harness();
    const raw = { ...h.settings, maxPulseMs: 10_000 };
    const s = step(raw, h.state, open(1, 10_000), 0);
    expect(s.deadline).toBe(HARD_MAX_PULSE_MS);
  });

  it('a command pulse is clamped the same way', () => {
    const h = new Harness({ maxPulseMs: 500 });
    const s = h.feed({ type: 'command', cmd: 'open', seq: 9, pulseMs: 4000 });
    expect(s.outcome.kind).toBe('opened');
    expect(s.deadline).toBe(500);
  });
});

describe('passage', () => {
  it('ends the pass early (even during the pulse) with a passage event', () => {
    const h = new Harness();
    h.feed(open(4));
    h.advance(120);
    const s = h.feed({ type: 'passage' });
    expect(h.phase).toBe('idle');
    expect(s.effects).toContainEqual({ kind: 'relay', level: 'inactive' });
    expect(h.events('passage')).toEqual([{ type: 'passage', ref: 4, via: 'decision', outcome: 'passed', afterMs: 120 }]);
    expect(s.deadline).toBeNull();
  });

  it('ends the pass in the awaiting-passage phase', () => {
    const h = new Harness();
    h.feed(open(4));
    h.advance(2000);
    expect(h.phase).toBe('passage');
    h.feed({ type: 'passage' });
    expect(h.phase).toBe('idle');
    expect(h.events('passage')[0]).toMatchObject({ outcome: 'passed', afterMs: 2000 });
  });

  it('times out after passageTimeoutMs from the pulse start (default 5 s)', () => {
    const h = new Harness();
    h.feed(open(5));
    h.advance(4999);
    expect(h.phase).toBe('passage');
    h.advance(1);
    expect(h.phase).toBe('idle');
    expect(h.events('passage')).toEqual([{ type: 'passage', ref: 5, via: 'decision', outcome: 'timeout', afterMs: 5000 }]);
  });

  it('without a passage sensor a pass ends at the timeout silently', () => {
    const h = new Harness({ passageSensor: false, passageTimeoutMs: 3000 });
    h.feed(open(5));
    h.advance(3000);
    expect(h.phase).toBe('idle');
    expect(h.events()).toEqual([]);
  });

  it('a passage nobody was granted is recorded as unexpected; bounces are ignored', () => {
    const h = new Harness({ passageDebounceMs: 200 });
    h.feed({ type: 'passage' });
    h.advance(50);
    h.feed({ type: 'passage' });
    expect(h.events('passage')).toEqual([{ type: 'passage', ref: null, outcome: 'unexpected' }]);
    expect(h.relayChanges()).toHaveLength(1); // only the start's forced release
  });

  it('a bounce of the passage that ended a pass does not count twice', () => {
    const h = new Harness();
    h.feed(open(1));
    h.advance(100);
    h.feed({ type: 'passage' });
    h.advance(30);
    h.feed({ type: 'passage' });
    expect(h.events('passage')).toHaveLength(1);
  });
});

describe('busy: a second open during a pass', () => {
  it('queues (bound 1 by default) and pulses again after the first passage, with a fresh edge', () => {
    const h = new Harness();
    h.feed(open(1));
    h.advance(100);
    expect(h.feed(open(2)).outcome).toEqual({ kind: 'queued', position: 1 });
    expect(h.last.effects).toContainEqual({ kind: 'indicator', pattern: 'busy' });
    const third = h.feed(open(3));
    expect(third.outcome).toEqual({ kind: 'refused', why: 'BUSY' });
    expect(h.events('passage')).toEqual([{ type: 'passage', ref: 3, via: 'decision', outcome: 'refused', why: 'BUSY' }]);

    h.advance(400);
    h.feed({ type: 'passage' }); // t = 500
    expect(h.phase).toBe('settle');
    h.advance(PULSE_GAP_MS);
    expect(h.phase).toBe('pulse');
    expect(h.relayChanges().map((c) => [c.t, c.level])).toEqual([
      [0, 'inactive'],
      [0, 'active'],
      [300, 'inactive'],
      [500 + PULSE_GAP_MS, 'active'],
    ]);
    h.advance(300);
    h.feed({ type: 'passage' });
    expect(h.phase).toBe('idle');
    expect(h.events('passage').map((e) => [e.ref, e.outcome])).toEqual([
      [3, 'refused'],
      [1, 'passed'],
      [2, 'passed'],
    ]);
  });

  it('the queued pass also starts after a timeout', () => {
    const h = new Harness({ queueSize: 2 });
    h.feed(open(1));
    h.feed(open(2));
    h.feed(open(3));
    h.advance(5000 + PULSE_GAP_MS);
    expect(h.phase).toBe('pulse');
    expect(h.state.queue).toHaveLength(1);
  });

  it('refuses when configured to', () => {
    const h = new Harness({ busy: 'refuse' });
    h.feed(open(1));
    expect(h.feed(open(2)).outcome).toEqual({ kind: 'refused', why: 'BUSY' });
    h.feed({ type: 'passage' });
    expect(h.phase).toBe('idle');
    h.advance(10_000);
    expect(h.relayChanges().filter((c) => c.level === 'active')).toHaveLength(1);
  });
});

describe('staff: held for a guard', () => {
  it('holds without moving the relay; approve records the override FIRST, then pulses', () => {
    const h = new Harness();
    const held = h.feed(staff(10));
    expect(held.outcome).toEqual({ kind: 'held', holdId: 'h10' });
    expect(held.effects.some((e) => e.kind === 'relay')).toBe(false);
    expect(held.effects).toContainEqual({ kind: 'indicator', pattern: 'hold' });
    expect(h.state.holds.map((x) => x.info)).toEqual([
      { maskedName: '张*', reason: 'STATUS_YELLOW', input: 'qr', format: 'HP1', issuer: 'CN-330000' },
    ]);

    h.advance(4000);
    const s = h.feed({ type: 'guard', holdId: 'h10', decision: 'approve', actor: 'guard:wang' });
    expect(s.outcome).toEqual({ kind: 'opened' });
    expect(s.effects[0]).toEqual({
      kind: 'event',
      required: true,
      event: {
        type: 'override',
        ref: 10,
        result: 'open',
        reason: 'GUARD_APPROVED',
        actor: 'guard:wang',
        input: 'qr',
        format: 'HP1',
        issuer: 'CN-330000',
        handle: 'ab'.repeat(16),
        heldMs: 4000,
      },
    });
    expect(s.effects[1]).toEqual({ kind: 'relay', level: 'active' });
    expect(h.state.holds).toEqual([]);
    expect(h.state.phase).toMatchObject({ name: 'pulse', pass: { via: 'guard', ref: 10 } });
  });

  it('deny records GUARD_DENIED and never moves the relay', () => {
    const h = new Harness();
    h.feed(staff(11));
    const s = h.feed({ type: 'guard', holdId: 'h11', decision: 'deny', actor: 'guard:li' });
    expect(s.outcome).toEqual({ kind: 'denied' });
    expect(s.effects[0]).toMatchObject({ kind: 'event', required: true, event: { type: 'override', result: 'deny', reason: 'GUARD_DENIED', actor: 'guard:li', ref: 11 } });
    expect(h.relayChanges()).toHaveLength(1);
    expect(h.state.holds).toEqual([]);
  });

  it('a hold expires after staffHoldTimeoutMs; a late decision finds nothing', () => {
    const h = new Harness({ staffHoldTimeoutMs: 30_000 });
    h.feed(staff(12));
    h.advance(29_999);
    expect(h.state.holds).toHaveLength(1);
    h.advance(1);
    expect(h.state.holds).toHaveLength(0);
    expect(h.events('system')).toEqual([{ type: 'system', code: 'HOLD_EXPIRED', ref: 12, why: 'TIMEOUT' }]);
    const s = h.feed({ type: 'guard', holdId: 'h12', decision: 'approve', actor: 'guard:wang' });
    expect(s.outcome).toEqual({ kind: 'refused', why: 'NO_SUCH_HOLD' });
    expect(s.effects).toEqual([]);
    expect(h.relayChanges()).toHaveLength(1);
  });

  it('an expired hold cannot be approved even before its tick ran', () => {
    const h = new Harness({ staffHoldTimeoutMs: 1000 });
    h.feed(staff(12));
    h.now = 1000; // no tick fed
    expect(h.feed({ type: 'guard', holdId: 'h12', decision: 'approve', actor: 'g' }).outcome).toEqual({ kind: 'refused', why: 'NO_SUCH_HOLD' });
  });

  it('approve while busy queues (queue mode) or is refused before anything is recorded (refuse mode)', () => {
    const q = new Harness();
    q.feed(open(1));
    q.feed(staff(2));
    const s = q.feed({ type: 'guard', holdId: 'h2', decision: 'approve', actor: 'g' });
    expect(s.outcome).toEqual({ kind: 'queued', position: 1 });
    expect(s.effects[0]).toMatchObject({ kind: 'event', required: true });

    const r = new Harness({ busy: 'refuse' });
    r.feed(open(1));
    r.feed(staff(2));
    const refused = r.feed({ type: 'guard', holdId: 'h2', decision: 'approve', actor: 'g' });
    expect(refused.outcome).toEqual({ kind: 'refused', why: 'BUSY' });
    expect(refused.effects).toEqual([]);
    expect(r.state.holds).toHaveLength(1); // the guard can try again
    r.feed({ type: 'passage' });
    expect(r.feed({ type: 'guard', holdId: 'h2', decision: 'approve', actor: 'g' }).outcome).toEqual({ kind: 'opened' });
  });

  it('the hold list is bounded: the oldest expires to make room', () => {
    const h = new Harness({ maxHolds: 2 });
    h.feed(staff(1));
    h.feed(staff(2));
    h.feed(staff(3));
    expect(h.state.holds.map((x) => x.ref)).toEqual([2, 3]);
    expect(h.events('system')).toEqual([{ type: 'system', code: 'HOLD_EXPIRED', ref: 1, why: 'FULL' }]);
  });

  it('unknown hold ids are refused', () => {
    const h = new Harness();
    expect(h.feed({ type: 'guard', holdId: 'nope', decision: 'deny', actor: 'g' }).outcome).toEqual({ kind: 'refused', why: 'NO_SUCH_HOLD' });
  });
});

describe('fire alarm', () => {
  /** Brings a fresh gate into each reachable situation. */
  const situations: Record<string, (h: Harness) => void> = {
    'before boot': () => {},
    idle: () => {},
    pulse: (h) => {
      h.feed(open(1));
      h.feed(open(2));
      h.advance(100);
    },
    passage: (h) => {
      h.feed(open(1));
      h.advance(1000);
    },
    settle: (h) => {
      h.feed(open(1));
      h.feed(open(2));
      h.feed({ type: 'passage' });
    },
    'with holds': (h) => {
      h.feed(staff(5));
    },
  };

  for (const mode of ['secure', 'safe'] as FailMode[]) {
    for (const [name, setup] of Object.entries(situations)) {
      it(`${mode}: in ${name}, releases the gate and holds it until the alarm clears`, () => {
        const h = new Harness({ failMode: mode }, name !== 'before boot');
        setup(h);
        const before = h.state;
        const s = h.feed({ type: 'alarm', active: true });
        expect(h.phase).toBe('alarm');
        expect(h.state.relay).toBe(freeLevel(mode));
        // Relay first (if it has to move), then the alarm event.
        const kinds = s.effects.map((e) => (e.kind === 'event' ? `event:${e.event.type}` : e.kind));
        const alarmAt = kinds.indexOf('event:alarm');
        expect(alarmAt).toBeGreaterThanOrEqual(0);
        if (before.relay !== freeLevel(mode)) expect(kinds.indexOf('relay')).toBeLessThan(alarmAt);
        expect(s.effects).toContainEqual({ kind: 'indicator', pattern: 'alarm' });
        expect(s.deadline === null || h.state.holds.length > 0).toBe(true);

        // Passes in flight are cancelled (recorded), nothing is queued, and time changes nothing.
        const cancelled = h.events('passage').filter((e) => e.outcome === 'cancelled');
        const inFlight = (before.phase.name === 'pulse' || before.phase.name === 'passage' ? 1 : 0) + before.queue.length;
        expect(cancelled).toHaveLength(inFlight);
        h.advance(60_000);
        expect(h.phase).toBe('alarm');
        expect(h.state.relay).toBe(freeLevel(mode));

        // Grants during the alarm: the gate is already free, nothing pulses.
        const changes = h.relayChanges().length;
        expect(h.feed(open(9)).outcome).toEqual({ kind: 'free' });
        h.feed({ type: 'passage' });
        h.feed({ type: 'alarm', active: true }); // repeated reports change nothing
        expect(h.relayChanges()).toHaveLength(changes);

        const clear = h.feed({ type: 'alarm', active: false });
        expect(clear.effects).toContainEqual({ kind: 'event', required: false, event: expect.objectContaining({ type: 'alarm', active: false }) });
        if (name === 'before boot') {
          expect(h.phase).toBe('start');
          expect(h.state.relay).toBe('inactive');
        } else {
          expect(h.phase).toBe('idle');
          expect(h.state.relay).toBe(lockedLevel(mode));
          expect(clear.effects).toContainEqual({ kind: 'indicator', pattern: 'ready' });
        }
      });
    }
  }

  it('an alarm before boot keeps the gate released through the boot', () => {
    const h = new Harness({}, false);
    h.feed({ type: 'alarm', active: true });
    h.feed({ type: 'boot' });
    expect(h.phase).toBe('alarm');
    expect(h.state.relay).toBe('active');
    h.feed({ type: 'alarm', active: false });
    expect(h.phase).toBe('idle');
    expect(h.state.relay).toBe('inactive');
  });

  it('a guard approval during the alarm is recorded but pulses nothing', () => {
    const h = new Harness();
    h.feed(staff(3));
    h.feed({ type: 'alarm', active: true });
    const s = h.feed({ type: 'guard', holdId: 'h3', decision: 'approve', actor: 'g' });
    expect(s.outcome).toEqual({ kind: 'free' });
    expect(s.effects.filter((e) => e.kind === 'relay')).toEqual([]);
    expect(s.effects[0]).toMatchObject({ kind: 'event', required: true, event: { reason: 'GUARD_APPROVED' } });
  });
});

describe('stop', () => {
  for (const mode of ['secure', 'safe'] as FailMode[]) {
    it(`${mode}: from a pulse, the relay goes to its safe level and stays there`, () => {
      const h = new Harness({ failMode: mode });
      h.feed(open(1));
      h.feed(staff(2));
      const s = h.feed({ type: 'stop' });
      expect(s.effects).toContainEqual({ kind: 'relay', level: 'inactive' });
      expect(s.effects).toContainEqual({ kind: 'indicator', pattern: 'off' });
      expect(s.deadline).toBeNull();
      for (const input of [open(3), { type: 'alarm', active: true }, { type: 'boot' }, { type: 'guard', holdId: 'h2', decision: 'approve', actor: 'g' }] as GateInput[]) {
        const r = h.feed(input);
        expect(r.outcome).toEqual({ kind: 'refused', why: 'NOT_RUNNING' });
        expect(r.effects).toEqual([]);
      }
    });
  }
});

describe('never a pulse without a grant', () => {
  it('deny, error, staff, passage, ticks and unrecorded opens never release the relay', () => {
    const h = new Harness();
    h.feed({ type: 'decision', decision: decision({ result: 'deny', reason: 'STATUS_RED' }), holdId: 'a' });
    expect(h.last.effects).toContainEqual({ kind: 'indicator', pattern: 'deny' });
    h.feed({ type: 'decision', decision: decision({ result: 'error', reason: 'INTERNAL' }), holdId: 'b' });
    h.feed(staff(3));
    h.feed({ type: 'passage' });
    const unrecorded = h.feed({ type: 'decision', decision: decision({ seq: null }), holdId: 'c' });
    expect(unrecorded.outcome).toEqual({ kind: 'refused', why: 'NOT_RECORDED' });
    h.advance(120_000);
    expect(h.relayChanges()).toEqual([{ t: 0, level: 'inactive' }]);
  });

  it('the deny flash returns to ready after FLASH_MS', () => {
    const h = new Harness();
    h.feed({ type: 'decision', decision: decision({ result: 'deny', reason: 'STATUS_RED' }), holdId: 'a' });
    expect(h.last.deadline).toBe(FLASH_MS);
    h.advance(FLASH_MS);
    expect(h.last.effects).toEqual([{ kind: 'indicator', pattern: 'ready' }]);
  });

  // Property: across random input sequences, the relay is away from the locked level only during
  // the alarm or within a pulse started by a grant, and never longer than the cap.
  const grantInput = fc.oneof(
    fc.record({ kind: fc.constant('open' as const), pulse: fc.integer({ min: -10, max: 100_000 }) }),
    fc.record({ kind: fc.constant('command' as const), pulse: fc.integer({ min: -10, max: 100_000 }) }),
  );
  const otherInput = fc.constantFrom('deny', 'staff', 'approve', 'deny-hold', 'passage', 'alarm-on', 'alarm-off', 'unrecorded', 'error');
  const stepArb = fc.record({ wait: fc.integer({ min: 0, max: 7000 }), input: fc.oneof(grantInput, otherInput) });

  it('property: every release comes from a grant or the alarm, and no pulse outlasts the cap', () => {
    fc.assert(
      fc.property(fc.constantFrom<FailMode>('secure', 'safe'), fc.integer({ min: 50, max: 5000 }), fc.array(stepArb, { maxLength: 40 }), (mode, maxPulseMs, steps) => {
        const h = new Harness({ failMode: mode, maxPulseMs });
        const cap = Math.min(maxPulseMs, HARD_MAX_PULSE_MS);
        const released = freeLevel(mode);
        let seq = 100;
        let releasedSince: number | null = null;
        for (const st of steps) {
          // Check the release duration at every tick along the way.
          const end = h.now + st.wait;
          for (;;) {
            const d = h.last.deadline;
            if (d === null || d > end) break;
            h.now = Math.max(h.now, d);
            const before = h.state.relay;
            h.feed({ type: 'tick' });
            if (before === released && h.state.relay !== released && releasedSince !== null && !h.state.alarm) {
              expect(h.now - releasedSince).toBeLessThanOrEqual(cap);
            }
            if (h.state.relay !== released) releasedSince = null;
          }
          h.now = end;
          if (h.state.relay === released && !h.state.alarm && releasedSince !== null) {
            expect(h.now - releasedSince).toBeLessThanOrEqual(cap);
          }

          const before = h.state.relay;
          const i = st.input;
          let isGrant = false;
          if (typeof i === 'object') {
            isGrant = true;
            seq++;
            h.feed(i.kind === 'open' ? open(seq, i.pulse) : { type: 'command', cmd: 'open', seq, pulseMs: i.pulse });
          } else if (i === 'approve' || i === 'deny-hold') {
            const hold = h.state.holds[0];
            isGrant = i === 'approve';
            h.feed({ type: 'guard', holdId: hold?.id ?? 'none', decision: i === 'approve' ? 'approve' : 'deny', actor: 'g' });
          } else if (i === 'deny' || i === 'error') {
            h.feed({ type: 'decision', decision: decision({ result: i, reason: i === 'deny' ? 'STATUS_RED' : 'INTERNAL' }), holdId: `x${seq++}` });
          } else if (i === 'staff') {
            h.feed(staff(++seq));
          } else if (i === 'unrecorded') {
            h.feed({ type: 'decision', decision: decision({ seq: null }), holdId: `x${seq++}` });
          } else if (i === 'passage') {
            h.feed({ type: 'passage' });
          } else {
            h.feed({ type: 'alarm', active: i === 'alarm-on' });
          }
          const after = h.state.relay;
          if (before !== released && after === released) {
            // A release happened on this input: it must be a grant, or the alarm.
            expect(isGrant || h.state.alarm).toBe(true);
            releasedSince = h.now;
          }
          if (after !== released) releasedSince = null;
          if (h.state.alarm) releasedSince = null;
          // Away from the alarm, released means pulse.
          if (!h.state.alarm && after === released) expect(h.phase).toBe('pulse');
        }
      }),
      { numRuns: 300 },
    );
  });
});
