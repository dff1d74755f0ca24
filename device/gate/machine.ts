/**
 * The gate state machine: PURE. No timers, no I/O, no clock reads — every input carries `now`
 * (monotonic ms), and a step returns the next state, the effects to apply in order, and the next
 * deadline at which the driver must feed a `tick`. device/gate/controller.ts is the thin driver.
 *
 *   start ──boot──▶ idle ──open──▶ pulse ──pulseMs──▶ passage ──passage input / timeout──▶ idle
 *                     ▲                                                       │ (queue not empty)
 *                     └──────────── settle (PULSE_GAP_MS) ◀───────────────────┘ ──▶ pulse (next)
 *   any state ──alarm on──▶ alarm ──alarm off──▶ idle (or start, if never booted)
 *   any state ──stop──▶ stopped (final)
 *
 * Orthogonal to the phase: a bounded queue of granted passes waiting for the current one, and a
 * bounded list of holds (`staff` results) waiting for a guard.
 *
 * ## Relay levels and what "released" means
 * The machine speaks of the relay's LOGICAL level: `active` = coil energised, `inactive` = coil
 * de-energised (the level the hardware falls to when the Pi loses power or the process dies; the
 * electrical inversion of an active-low board is the GPIO driver's business, `gpio.relay.activeLow`).
 * `inactive` is the relay's SAFE level: forced at start, on stop and on a crash.
 *
 * `failMode` says how the lock is wired, i.e. what the gate does when the relay is de-energised:
 * - `secure` (fail-secure; a turnstile's "Unlock"/"Open" dry-contact input, an electric strike):
 *   de-energised = locked. Idle `inactive`; a pass is an `active` pulse; a dead Pi leaves the gate
 *   locked. On fire alarm the gate is RELEASED by holding the relay `active` until the alarm
 *   clears — for a turnstile that is "potential mode" (open while held); wire the fire panel to the
 *   turnstile's own Fire Alarm input as well, because a dead Pi cannot hold anything.
 * - `safe` (fail-safe; a maglock powered through the relay's NO contact): de-energised = unlocked.
 *   Idle `active` (lock powered); a pass is an `inactive` pulse; a dead Pi or a stopped service
 *   frees the door. On fire alarm the gate is RELEASED by holding the relay `inactive`.
 * "Gate released" (free passage) therefore maps to `freeLevel(failMode)` (`lockedLevel` its opposite); "relay released"
 * (safe level) is always `inactive`.
 *
 * ## Invariants (tested)
 * - The relay leaves the locked level only in `pulse` (entered only from an `open` decision with a
 *   committed seq, a guard's approval, or an `open` command with a committed seq) or in `alarm`.
 * - A pulse lasts min(requested, settings.maxPulseMs, HARD_MAX_PULSE_MS) ms, at least MIN_PULSE_MS.
 * - Effects are chronological. A guard decision's `override` event is `required` and comes before
 *   every other effect of its step: the driver commits it first and discards the step if it cannot.
 * - On a fire alarm the relay moves first and the `alarm` event follows: life safety outranks the
 *   audit order, and a failed record does not hold the release back.
 */
import type { EventType } from '../events.js';
import type { Format, InputKind, Reason, Result } from '../core/types.js';

export type Level = 'active' | 'inactive';
export type FailMode = 'safe' | 'secure';

/** The relay's safe level: de-energised. */
export const SAFE_LEVEL: Level = 'inactive';
/** No pulse is ever longer than this, whatever policy, configuration or a command asks. */
export const HARD_MAX_PULSE_MS = 2000;
/** No pulse is shorter than this (turnstiles need ≥ 100 ms in pulse mode; relays need time to pull in). */
export const MIN_PULSE_MS = 50;
/** The relay rests at the locked level this long between two consecutive passes (a fresh edge for each). */
export const PULSE_GAP_MS = 200;
/** A transient indicator pattern (deny, hold, busy) shows this long, then the steady one returns. */
export const FLASH_MS = 1500;

export function lockedLevel(mode: FailMode): Level {
  return mode === 'secure' ? 'inactive' : 'active';
}
/** The relay level that lets people through freely (a pass, a fire alarm): not the relay's released (safe) level. */
export function freeLevel(mode: FailMode): Level {
  return mode === 'secure' ? 'active' : 'inactive';
}

/** Indicator patterns: steady (`off`, `ready`, `open`, `alarm`) and transient (`deny`, `hold`, `busy`). */
export type IndicatorPattern = 'off' | 'ready' | 'open' | 'alarm' | 'deny' | 'hold' | 'busy';

export interface GateSettings {
  failMode: FailMode;
  /** Upper bound for every pulse, ms; itself capped at HARD_MAX_PULSE_MS. */
  maxPulseMs: number;
  /** How long a granted pass waits for the passage sensor, counted from the pulse's start, ms. */
  passageTimeoutMs: number;
  /** A grant while a pass is running: wait in the queue, or be refused. */
  busy: 'queue' | 'refuse';
  /** Bound of that queue (busy = queue). */
  queueSize: number;
  /** How long a held pass waits for a guard, ms. */
  staffHoldTimeoutMs: number;
  /** Bound of the hold list; the oldest hold expires to make room. */
  maxHolds: number;
  /** Passage inputs closer than this to the previous one are bounce, ms. */
  passageDebounceMs: number;
  /** Whether a passage sensor is wired: without one a pass simply ends at the timeout, unrecorded. */
  passageSensor: boolean;
}

export const DEFAULT_SETTINGS: Readonly<GateSettings> = Object.freeze({
  failMode: 'secure',
  maxPulseMs: 1000,
  passageTimeoutMs: 5000,
  busy: 'queue',
  queueSize: 1,
  staffHoldTimeoutMs: 60_000,
  maxHolds: 8,
  passageDebounceMs: 200,
  passageSensor: true,
});

/** A granted pass: why the gate may open, and which committed event says so. */
export interface Pass {
  via: 'decision' | 'guard' | 'command';
  /** Outbox seq of the event that granted it (the decision's, for a guard's approval of a hold). */
  ref: number | null;
  pulseMs: number;
}

/** What the guard's screen may show about a held pass: never an ID number or scanned text. */
export interface HoldInfo {
  maskedName: string | null;
  reason: Reason;
  input: InputKind;
  format: Format | null;
  issuer: string | null;
}

export interface Hold {
  id: string;
  /** Outbox seq of the `staff` decision. */
  ref: number | null;
  /** Token or holder handle, for the override event (handles may be recorded; names may not). */
  handle: string | null;
  since: number;
  expiresAt: number;
  pulseMs: number;
  info: HoldInfo;
}

export type Phase =
  | { name: 'start' }
  | { name: 'idle' }
  | { name: 'pulse'; pass: Pass; startedAt: number; pulseEndsAt: number; passageEndsAt: number }
  | { name: 'passage'; pass: Pass; startedAt: number; passageEndsAt: number }
  | { name: 'settle'; until: number }
  | { name: 'alarm' }
  | { name: 'stopped' };

export type PhaseName = Phase['name'];

export interface GateState {
  readonly phase: Phase;
  /** The fire alarm input, as last reported. */
  readonly alarm: boolean;
  /** Whether `boot` has happened (where an alarm that clears returns to). */
  readonly booted: boolean;
  readonly queue: readonly Pass[];
  readonly holds: readonly Hold[];
  /** The level last commanded. */
  readonly relay: Level;
  /** The pattern last commanded. */
  readonly shown: IndicatorPattern;
  readonly flash: { pattern: IndicatorPattern; until: number } | null;
  readonly lastPassageAt: number | null;
}

/** The decision as the machine needs it (from the verifier's Verdict and the policy in force). */
export interface DecisionSummary {
  result: Result;
  reason: Reason;
  /** The outbox seq of the decision's event; null when it was not recorded. */
  seq: number | null;
  input: InputKind;
  format: Format | null;
  issuer: string | null;
  handle: string | null;
  /** Masked display name, memory only. */
  displayName: string | null;
  /** policy.pulseMs at decision time. */
  pulseMs: number;
}

export type GateInput =
  | { type: 'boot' }
  /** `holdId` names the hold a `staff` result creates (the driver makes it unguessable). */
  | { type: 'decision'; decision: DecisionSummary; holdId: string }
  /** `note`: the guard's reason (pick list and free text), recorded with the override. */
  | { type: 'guard'; holdId: string; decision: 'approve' | 'deny'; actor: string; note?: string }
  /** A verified `open` command whose event `seq` is already committed. */
  | { type: 'command'; cmd: 'open'; seq: number; pulseMs: number }
  | { type: 'passage' }
  | { type: 'alarm'; active: boolean }
  | { type: 'tick' }
  | { type: 'stop' };

/** An event body: the driver adds id, tsMs, monoMs and clockTrusted (device/events.ts baseEvent). */
export interface EventBody {
  type: EventType;
  [field: string]: unknown;
}

export type Effect =
  | { kind: 'relay'; level: Level }
  | { kind: 'indicator'; pattern: IndicatorPattern }
  /** `required`: the rest of the step depends on this commit; if it fails, discard the step. */
  | { kind: 'event'; event: EventBody; required: boolean };

export type Refusal = 'NOT_RUNNING' | 'NOT_RECORDED' | 'BUSY' | 'NO_SUCH_HOLD';

export type Outcome =
  | { kind: 'opened' }
  /** The gate is already free (fire alarm): nothing to pulse. */
  | { kind: 'free' }
  | { kind: 'queued'; position: number }
  | { kind: 'held'; holdId: string }
  | { kind: 'denied' }
  | { kind: 'refused'; why: Refusal }
  | { kind: 'done' };

export interface Step {
  state: GateState;
  effects: Effect[];
  /** Monotonic ms at which to feed `tick`; null when nothing is timed. */
  deadline: number | null;
  outcome: Outcome;
}

/** Clamps settings to what the machine will ever do (the configuration schema says the same). */
export function normaliseSettings(s: Partial<GateSettings> = {}): GateSettings {
  const m = { ...DEFAULT_SETTINGS, ...s };
  return {
    ...m,
    maxPulseMs: clamp(m.maxPulseMs, MIN_PULSE_MS, HARD_MAX_PULSE_MS),
    passageTimeoutMs: Math.max(1, m.passageTimeoutMs),
    queueSize: Math.max(0, Math.floor(m.queueSize)),
    maxHolds: Math.max(1, Math.floor(m.maxHolds)),
    staffHoldTimeoutMs: Math.max(1, m.staffHoldTimeoutMs),
    passageDebounceMs: Math.max(0, m.passageDebounceMs),
  };
}

/** The pulse a request gets: never longer than the configured cap nor HARD_MAX_PULSE_MS. */
export function pulseLength(settings: GateSettings, requestedMs: number): number {
  const cap = Math.min(settings.maxPulseMs, HARD_MAX_PULSE_MS);
  const r = Number.isFinite(requestedMs) ? requestedMs : MIN_PULSE_MS;
  return clamp(Math.round(r), MIN_PULSE_MS, Math.max(MIN_PULSE_MS, cap));
}

/** The relay level each phase demands. */
export function relayFor(phase: Phase, mode: FailMode): Level {
  switch (phase.name) {
    case 'start':
    case 'stopped':
      return SAFE_LEVEL;
    case 'pulse':
    case 'alarm':
      return freeLevel(mode);
    case 'idle':
    case 'passage':
    case 'settle':
      return lockedLevel(mode);
  }
}

function steadyPattern(phase: Phase): IndicatorPattern {
  switch (phase.name) {
    case 'start':
    case 'stopped':
      return 'off';
    case 'idle':
    case 'settle':
      return 'ready';
    case 'pulse':
    case 'passage':
      return 'open';
    case 'alarm':
      return 'alarm';
  }
}

/**
 * The machine's first step: the `start` state with the relay forced to its safe level and the
 * indicator off, whatever the hardware was doing before the process started.
 */
export function begin(): Step {
  const state: GateState = {
    phase: { name: 'start' },
    alarm: false,
    booted: false,
    queue: [],
    holds: [],
    relay: SAFE_LEVEL,
    shown: 'off',
    flash: null,
    lastPassageAt: null,
  };
  return {
    state,
    effects: [
      { kind: 'relay', level: SAFE_LEVEL },
      { kind: 'indicator', pattern: 'off' },
    ],
    deadline: null,
    outcome: { kind: 'done' },
  };
}

/** One transition. Pure: the same arguments always give the same step. */
export function step(settings: GateSettings, state: GateState, input: GateInput, now: number): Step {
  const b = new Builder(settings, state, now);
  b.outcome = handle(b, input);
  return b.finish();
}

/** The earliest moment something timed happens in `state`. */
export function deadlineOf(state: GateState): number | null {
  let d: number | null = null;
  const at = (t: number) => {
    d = d === null ? t : Math.min(d, t);
  };
  const p = state.phase;
  if (p.name === 'pulse') at(p.pulseEndsAt);
  if (p.name === 'passage') at(p.passageEndsAt);
  if (p.name === 'settle') at(p.until);
  for (const h of state.holds) at(h.expiresAt);
  if (state.flash) at(state.flash.until);
  return d;
}

// --- transitions ---------------------------------------------------------------------------------

function handle(b: Builder, input: GateInput): Outcome {
  const { phase } = b.s;
  if (phase.name === 'stopped') return { kind: 'refused', why: 'NOT_RUNNING' };
  switch (input.type) {
    case 'boot':
      if (b.s.booted) return { kind: 'done' };
      b.s = { ...b.s, booted: true };
      if (phase.name === 'start') b.enter({ name: 'idle' });
      return { kind: 'done' };
    case 'tick':
      b.advance();
      return { kind: 'done' };
    case 'decision':
      return onDecision(b, input.decision, input.holdId);
    case 'command':
      return grant(b, { via: 'command', ref: input.seq, pulseMs: input.pulseMs });
    case 'guard':
      return onGuard(b, input.holdId, input.decision, input.actor, input.note);
    case 'passage':
      return onPassage(b);
    case 'alarm':
      return onAlarm(b, input.active);
    case 'stop':
      b.s = { ...b.s, queue: [], holds: [], flash: null };
      b.enter({ name: 'stopped' });
      // Re-assert the safe level even if it is already commanded: a failed earlier write is retried.
      if (!b.effects.some((e) => e.kind === 'relay')) b.effects.push({ kind: 'relay', level: SAFE_LEVEL });
      return { kind: 'done' };
  }
}

function onDecision(b: Builder, d: DecisionSummary, holdId: string): Outcome {
  switch (d.result) {
    case 'open':
      // Not recorded means not opened (the verifier already turns that into `error`; belt and braces).
      if (d.seq === null) {
        b.flashPattern('deny');
        return { kind: 'refused', why: 'NOT_RECORDED' };
      }
      return grant(b, { via: 'decision', ref: d.seq, pulseMs: d.pulseMs });
    case 'staff': {
      let holds = [...b.s.holds];
      while (holds.length >= b.settings.maxHolds) {
        const oldest = holds.shift()!;
        b.event({ type: 'system', code: 'HOLD_EXPIRED', ref: oldest.ref, why: 'FULL' });
      }
      const hold: Hold = {
        id: holdId,
        ref: d.seq,
        handle: d.handle,
        since: b.now,
        expiresAt: b.now + b.settings.staffHoldTimeoutMs,
        pulseMs: d.pulseMs,
        info: { maskedName: d.displayName, reason: d.reason, input: d.input, format: d.format, issuer: d.issuer },
      };
      holds = [...holds, hold];
      b.s = { ...b.s, holds };
      b.flashPattern('hold');
      return { kind: 'held', holdId };
    }
    case 'deny':
    case 'error':
      b.flashPattern('deny');
      return { kind: 'denied' };
  }
}

/** An `open` from any of the three sources: pulse now, queue, or refuse. */
function grant(b: Builder, pass: Pass): Outcome {
  const { phase } = b.s;
  switch (phase.name) {
    case 'start':
      b.passEvent(pass, 'refused', { why: 'NOT_RUNNING' });
      return { kind: 'refused', why: 'NOT_RUNNING' };
    case 'alarm':
      return { kind: 'free' };
    case 'idle':
      b.startPass(pass);
      return { kind: 'opened' };
    case 'pulse':
    case 'passage':
    case 'settle': {
      if (b.settings.busy === 'queue' && b.s.queue.length < b.settings.queueSize) {
        b.s = { ...b.s, queue: [...b.s.queue, pass] };
        b.flashPattern('busy');
        return { kind: 'queued', position: b.s.queue.length };
      }
      b.flashPattern('busy');
      b.passEvent(pass, 'refused', { why: 'BUSY' });
      return { kind: 'refused', why: 'BUSY' };
    }
    case 'stopped':
      return { kind: 'refused', why: 'NOT_RUNNING' };
  }
}

function onGuard(b: Builder, holdId: string, decision: 'approve' | 'deny', actor: string, note: string | undefined): Outcome {
  const hold = b.s.holds.find((h) => h.id === holdId && h.expiresAt > b.now);
  if (!hold) return { kind: 'refused', why: 'NO_SUCH_HOLD' };
  const { phase } = b.s;
  const approve = decision === 'approve';
  if (approve && phase.name === 'start') return { kind: 'refused', why: 'NOT_RUNNING' };
  const busy = phase.name === 'pulse' || phase.name === 'passage' || phase.name === 'settle';
  const canQueue = b.settings.busy === 'queue' && b.s.queue.length < b.settings.queueSize;
  // Refuse BEFORE anything is recorded: the hold stays, and the guard can try again.
  if (approve && busy && !canQueue) return { kind: 'refused', why: 'BUSY' };

  b.event(
    {
      type: 'override',
      ref: hold.ref,
      result: approve ? 'open' : 'deny',
      reason: approve ? 'GUARD_APPROVED' : 'GUARD_DENIED',
      actor,
      input: hold.info.input,
      format: hold.info.format,
      issuer: hold.info.issuer,
      handle: hold.handle,
      heldMs: b.now - hold.since,
      ...(note ? { note } : {}),
    },
    true,
  );
  b.s = { ...b.s, holds: b.s.holds.filter((h) => h !== hold) };
  if (!approve) {
    b.flashPattern('deny');
    return { kind: 'denied' };
  }
  return grant(b, { via: 'guard', ref: hold.ref, pulseMs: hold.pulseMs });
}

function onPassage(b: Builder): Outcome {
  const last = b.s.lastPassageAt;
  if (last !== null && b.now - last < b.settings.passageDebounceMs) return { kind: 'done' };
  b.s = { ...b.s, lastPassageAt: b.now };
  const { phase } = b.s;
  switch (phase.name) {
    case 'pulse':
    case 'passage':
      b.passEvent(phase.pass, 'passed', { afterMs: b.now - phase.startedAt });
      b.endPass();
      return { kind: 'done' };
    case 'idle':
    case 'settle':
    case 'start':
      // Nobody was granted a pass: forced door, tailgater, or the other direction. Worth knowing.
      b.event({ type: 'passage', ref: null, outcome: 'unexpected' });
      return { kind: 'done' };
    case 'alarm':
    case 'stopped':
      return { kind: 'done' };
  }
}

function onAlarm(b: Builder, active: boolean): Outcome {
  if (active === b.s.alarm) return { kind: 'done' };
  b.s = { ...b.s, alarm: active };
  if (active) {
    const { phase } = b.s;
    const dropped = [...(phase.name === 'pulse' || phase.name === 'passage' ? [phase.pass] : []), ...b.s.queue];
    b.s = { ...b.s, queue: [], flash: null };
    b.enter({ name: 'alarm' });
    b.event({ type: 'alarm', active: true, failMode: b.settings.failMode, relay: b.s.relay });
    for (const p of dropped) b.passEvent(p, 'cancelled', { why: 'ALARM' });
  } else {
    b.enter(b.s.booted ? { name: 'idle' } : { name: 'start' });
    b.event({ type: 'alarm', active: false, failMode: b.settings.failMode, relay: b.s.relay });
  }
  return { kind: 'done' };
}

// --- the step builder ------------------------------------------------------------------------------

class Builder {
  readonly effects: Effect[] = [];
  outcome: Outcome = { kind: 'done' };

  constructor(
    readonly settings: GateSettings,
    public s: GateState,
    readonly now: number,
  ) {}

  /** Changes phase; the relay follows at once, so effects stay in the order things happen. */
  enter(phase: Phase): void {
    this.s = { ...this.s, phase };
    const level = relayFor(phase, this.settings.failMode);
    if (level !== this.s.relay) {
      this.effects.push({ kind: 'relay', level });
      this.s = { ...this.s, relay: level };
    }
  }

  event(event: EventBody, required = false): void {
    this.effects.push({ kind: 'event', event, required });
  }

  passEvent(pass: Pass, outcome: 'passed' | 'timeout' | 'refused' | 'cancelled', extra: Record<string, unknown> = {}): void {
    this.event({ type: 'passage', ref: pass.ref, via: pass.via, outcome, ...extra });
  }

  flashPattern(pattern: IndicatorPattern): void {
    this.s = { ...this.s, flash: { pattern, until: this.now + FLASH_MS } };
  }

  startPass(pass: Pass): void {
    const pulse = pulseLength(this.settings, pass.pulseMs);
    const passageEndsAt = this.now + Math.max(this.settings.passageTimeoutMs, pulse);
    this.s = { ...this.s, flash: null };
    this.enter({ name: 'pulse', pass: { ...pass, pulseMs: pulse }, startedAt: this.now, pulseEndsAt: this.now + pulse, passageEndsAt });
  }

  /** The current pass is over: rest at the locked level, then the next in the queue, if any. */
  endPass(): void {
    if (this.s.queue.length > 0) this.enter({ name: 'settle', until: this.now + PULSE_GAP_MS });
    else this.enter({ name: 'idle' });
  }

  /** Everything due at `now`, in time order. */
  advance(): void {
    for (let guard = 0; guard < 64; guard++) {
      const p = this.s.phase;
      if (p.name === 'pulse' && this.now >= p.pulseEndsAt) {
        this.enter({ name: 'passage', pass: p.pass, startedAt: p.startedAt, passageEndsAt: p.passageEndsAt });
        continue;
      }
      if (p.name === 'passage' && this.now >= p.passageEndsAt) {
        if (this.settings.passageSensor) this.passEvent(p.pass, 'timeout', { afterMs: this.now - p.startedAt });
        this.endPass();
        continue;
      }
      if (p.name === 'settle' && this.now >= p.until) {
        const [next, ...rest] = this.s.queue;
        this.s = { ...this.s, queue: rest };
        if (next) this.startPass(next);
        else this.enter({ name: 'idle' });
        continue;
      }
      break;
    }
    const expired = this.s.holds.filter((h) => this.now >= h.expiresAt);
    if (expired.length > 0) {
      this.s = { ...this.s, holds: this.s.holds.filter((h) => this.now < h.expiresAt) };
      for (const h of expired) this.event({ type: 'system', code: 'HOLD_EXPIRED', ref: h.ref, why: 'TIMEOUT' });
    }
    if (this.s.flash && this.now >= this.s.flash.until) this.s = { ...this.s, flash: null };
  }

  finish(): Step {
    // The indicator: a transient pattern while it lasts (not over alarm, start or stop), else the steady one.
    const { phase, flash } = this.s;
    const quiet = phase.name === 'alarm' || phase.name === 'start' || phase.name === 'stopped';
    const pattern = flash && !quiet ? flash.pattern : steadyPattern(phase);
    if (pattern !== this.s.shown) {
      this.effects.push({ kind: 'indicator', pattern });
      this.s = { ...this.s, shown: pattern };
    }
    if (quiet && flash) this.s = { ...this.s, flash: null };
    return { state: this.s, effects: this.effects, deadline: deadlineOf(this.s), outcome: this.outcome };
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
