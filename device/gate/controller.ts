/**
 * The thin driver of the pure gate machine (machine.ts): it keeps the state, arms ONE timer for the
 * next deadline, and applies each step's effects in order through ports — relay, indicator, and the
 * outbox. It holds no gate logic of its own.
 *
 * Effect application rule: a step's `required` events (a guard's override) come first; the driver
 * commits them to the outbox, and if a commit fails it DISCARDS the step — state unchanged, no relay
 * or indicator effect applied — and reports `NOT_RECORDED`. Other events are committed as they come;
 * a failure is logged and the step goes on (an alarm must release the gate even with a broken disk).
 */
import { randomBytes } from 'node:crypto';
import { SILENT, type Logger } from '../../base/log.js';
import {
  begin,
  normaliseSettings,
  relayFor,
  step,
  type DecisionSummary,
  type Effect,
  type EventBody,
  type GateInput,
  type GateSettings,
  type GateState,
  type HoldInfo,
  type IndicatorPattern,
  type Level,
  type Outcome,
  type Refusal,
  type Step,
} from './machine.js';
import type { EventBus } from '../bus.js';

/**
 * The relay as the gate needs it. A rejected promise or a throw is logged and marks it faulty.
 * `pulseMs` comes with the level a pulse starts at: the relay ends that pulse by itself after
 * `pulseMs`, so it is released on time even if this controller never gets to say so.
 */
export interface RelayPort {
  set(level: Level, pulseMs?: number): void | Promise<void>;
}

export interface IndicatorPort {
  show(pattern: IndicatorPattern): void | Promise<void>;
}

/** Commits an event to the outbox synchronously and returns its seq; throws when it cannot. */
export type EventSink = (event: EventBody) => number;

export interface TimerPort {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const REAL_TIMERS: TimerPort = {
  // Not unref'd: a running pulse must keep the process alive until the relay is back at rest.
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The one Logger (base/log.ts). */
export type ControllerLogger = Logger;

export interface GateControllerOptions {
  settings?: Partial<GateSettings>;
  relay: RelayPort;
  indicator?: IndicatorPort;
  record: EventSink;
  /** Monotonic ms. */
  now: () => number;
  timers?: TimerPort;
  log?: ControllerLogger;
  /** Hold ids; random by default so a stale guard page cannot approve someone else after a restart. */
  newHoldId?: () => string;
  /** Told `gateChanged` whenever phase, relay, holds or alarm move (R/status and the console follow). */
  bus?: Pick<EventBus, 'emit'>;
}

/** A held pass as the guard sees it. */
export interface HoldView extends HoldInfo {
  id: string;
  ageMs: number;
  expiresInMs: number;
}

export type GuardResult = { ok: true; outcome: Outcome; seq: number | null } | { ok: false; error: Refusal };

/** What the guard console needs from the gate. */
export interface GuardPort {
  holds(): HoldView[];
  decide(holdId: string, decision: 'approve' | 'deny', actor: string, note?: string): GuardResult;
}

const noop = () => {};

export class GateController implements GuardPort {
  readonly settings: GateSettings;
  private state: GateState;
  private timer: unknown = null;
  private deadline: number | null = null;
  private readonly timers: TimerPort;
  private readonly log: ControllerLogger;
  private relayFault: string | null = null;
  private indicatorFault: string | null = null;
  private recordFailures = 0;
  private readonly newHoldId: () => string;
  private told = '';

  /** Forces the relay to its safe level at once (the machine's `start` state). */
  constructor(private readonly o: GateControllerOptions) {
    this.settings = normaliseSettings(o.settings);
    this.timers = o.timers ?? REAL_TIMERS;
    this.log = o.log ?? SILENT;
    this.newHoldId = o.newHoldId ?? (() => randomBytes(6).toString('hex'));
    const first = begin();
    this.state = first.state;
    this.applyEffects(first.effects);
    this.tell();
  }

  // --- inputs --------------------------------------------------------------------------------------

  boot(): Outcome {
    return this.dispatch({ type: 'boot' }).outcome;
  }

  /** Acts on the verifier's decision (its event already committed): open, hold for the guard, or refuse. */
  actOn(decision: DecisionSummary): Outcome {
    return this.dispatch({ type: 'decision', decision, holdId: this.newHoldId() }).outcome;
  }

  /** An `open` command whose event (seq) is already committed. */
  command(seq: number, pulseMs: number): Outcome {
    return this.dispatch({ type: 'command', cmd: 'open', seq, pulseMs }).outcome;
  }

  passage(): void {
    this.dispatch({ type: 'passage' });
  }

  alarm(active: boolean): void {
    this.dispatch({ type: 'alarm', active });
  }

  stop(): void {
    this.dispatch({ type: 'stop' });
  }

  decide(holdId: string, decision: 'approve' | 'deny', actor: string, note?: string): GuardResult {
    const r = this.dispatch({ type: 'guard', holdId, decision, actor, ...(note ? { note } : {}) });
    if (r.outcome.kind === 'refused') return { ok: false, error: r.outcome.why };
    return { ok: true, outcome: r.outcome, seq: r.seq };
  }

  /**
   * Last resort (uncaught exception, shutdown that must not wait): the relay to its safe level NOW,
   * bypassing the machine. Synchronous as far as the port allows; never throws.
   */
  releaseNow(): void {
    this.cancelTimer();
    try {
      const r = this.o.relay.set('inactive');
      if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(noop);
    } catch {
      /* nothing more can be done here; systemd's ExecStopPost forces the line too */
    }
  }

  // --- views ---------------------------------------------------------------------------------------

  holds(): HoldView[] {
    const now = this.o.now();
    return this.state.holds
      .filter((h) => h.expiresAt > now)
      .map((h) => ({ id: h.id, ...h.info, ageMs: Math.max(0, now - h.since), expiresInMs: h.expiresAt - now }));
  }

  snapshot() {
    const { phase, alarm, queue, holds, relay, shown } = this.state;
    return { phase: phase.name, alarm, queued: queue.length, holds: holds.length, relay, indicator: shown };
  }

  health(): { ok: boolean; detail?: string } {
    const faults = [this.relayFault && `relay: ${this.relayFault}`, this.indicatorFault && `indicator: ${this.indicatorFault}`].filter(Boolean);
    if (this.relayFault) return { ok: false, detail: faults.join('; ') };
    return faults.length ? { ok: true, detail: faults.join('; ') } : { ok: true };
  }

  /** The full state, for tests and diagnostics. */
  current(): GateState {
    return this.state;
  }

  // --- the loop ------------------------------------------------------------------------------------

  private dispatch(input: GateInput): { outcome: Outcome; seq: number | null } {
    const now = this.o.now();
    // Whatever fell due but has not been ticked yet happens first, as its own step.
    if (input.type !== 'tick' && this.deadline !== null && now >= this.deadline) this.run({ type: 'tick' }, now);
    return this.run(input, now);
  }

  private run(input: GateInput, now: number): { outcome: Outcome; seq: number | null } {
    let next: Step;
    try {
      next = step(this.settings, this.state, input, now);
    } catch (e) {
      // A bug in the machine must not leave the relay anywhere but safe.
      this.log.error({ err: e, input: input.type }, 'gate machine failed: releasing the relay');
      this.releaseNow();
      throw e;
    }
    // Required events first; if one cannot be committed, the step never happened.
    let seq: number | null = null;
    let i = 0;
    for (; i < next.effects.length; i++) {
      const e = next.effects[i]!;
      if (e.kind !== 'event' || !e.required) break;
      try {
        seq = this.o.record(e.event);
      } catch (err) {
        this.recordFailures++;
        this.log.error({ err, type: e.event.type }, 'could not record a required event: step discarded');
        this.armTimer(now);
        return { outcome: { kind: 'refused', why: 'NOT_RECORDED' }, seq: null };
      }
    }
    this.state = next.state;
    this.applyEffects(next.effects.slice(i));
    this.deadline = next.deadline;
    this.armTimer(now);
    this.tell();
    if (input.type !== 'tick' || next.effects.length > 0) {
      this.log.debug({ input: input.type, phase: this.state.phase.name, outcome: next.outcome.kind }, 'gate step');
    }
    return { outcome: next.outcome, seq };
  }

  /** `gateChanged` on the bus, once per change of what it carries. */
  private tell(): void {
    if (!this.o.bus) return;
    const change = this.snapshot();
    const key = JSON.stringify(change);
    if (key === this.told) return;
    this.told = key;
    this.o.bus.emit('gateChanged', change);
  }

  private applyEffects(effects: readonly Effect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'relay': {
          const p = this.state.phase;
          const pulseMs = p.name === 'pulse' && e.level === relayFor(p, this.settings.failMode) ? p.pulseEndsAt - p.startedAt : undefined;
          this.guarded('relay', () => (pulseMs === undefined ? this.o.relay.set(e.level) : this.o.relay.set(e.level, pulseMs)));
          break;
        }
        case 'indicator':
          if (this.o.indicator) this.guarded('indicator', () => this.o.indicator!.show(e.pattern));
          break;
        case 'event':
          try {
            this.o.record(e.event);
          } catch (err) {
            this.recordFailures++;
            this.log.error({ err, type: e.event.type }, 'could not record an event');
          }
          break;
      }
    }
  }

  private guarded(what: 'relay' | 'indicator', fn: () => void | Promise<void>): void {
    const fail = (err: unknown) => {
      const text = err instanceof Error ? err.message : String(err);
      if (what === 'relay') this.relayFault = text;
      else this.indicatorFault = text;
      this.log.error({ err }, `${what} write failed`);
    };
    try {
      const r = fn();
      if (r && typeof (r as Promise<void>).then === 'function') {
        (r as Promise<void>).then(() => {
          if (what === 'relay') this.relayFault = null;
          else this.indicatorFault = null;
        }, fail);
      } else if (what === 'relay') this.relayFault = null;
      else this.indicatorFault = null;
    } catch (err) {
      fail(err);
    }
  }

  private armTimer(now: number): void {
    this.cancelTimer();
    if (this.deadline === null) return;
    const delay = Math.max(0, this.deadline - now);
    this.timer = this.timers.set(() => {
      this.timer = null;
      try {
        this.run({ type: 'tick' }, this.o.now());
      } catch {
        /* logged in run(); the relay is already safe */
      }
    }, delay);
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      this.timers.clear(this.timer);
      this.timer = null;
    }
  }
}
