/** Drives the pure gate machine by hand: time is a number the test steps. */
import { begin, normaliseSettings, step } from '../../../device/gate/machine.js';
import type { DecisionSummary, Effect, EventBody, GateInput, GateSettings, GateState, Level, Step } from '../../../device/gate/machine.js';

export function decision(over: Partial<DecisionSummary> = {}): DecisionSummary {
  return {
    result: 'open',
    reason: 'OK',
    seq: 1,
    input: 'qr',
    format: 'HP1',
    issuer: 'CN-330000',
    handle: 'ab'.repeat(16),
    displayName: null,
    pulseMs: 300,
    ...over,
  };
}

export const open = (seq = 1, pulseMs = 300): GateInput => ({ type: 'decision', decision: decision({ seq, pulseMs }), holdId: `h${seq}` });
export const staff = (seq: number, over: Partial<DecisionSummary> = {}): GateInput => ({
  type: 'decision',
  decision: decision({ result: 'staff', reason: 'STATUS_YELLOW', seq, displayName: '张*', ...over }),
  holdId: `h${seq}`,
});

export class Harness {
  readonly settings: GateSettings;
  state: GateState;
  now = 0;
  last!: Step;
  /** Every effect so far, stamped with the time it was applied. */
  readonly log: { t: number; effect: Effect }[] = [];

  constructor(settings: Partial<GateSettings> = {}, boot = true) {
    this.settings = normaliseSettings(settings);
    const first = begin();
    this.state = first.state;
    this.record(first);
    if (boot) this.feed({ type: 'boot' });
  }

  feed(input: GateInput): Step {
    const s = step(this.settings, this.state, input, this.now);
    this.state = s.state;
    this.record(s);
    return s;
  }

  /** Moves time on, ticking at every deadline on the way (as the driver's timer would). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const d = this.last.deadline;
      if (d === null || d > end) break;
      this.now = Math.max(this.now, d);
      this.feed({ type: 'tick' });
    }
    this.now = end;
  }

  get phase(): string {
    return this.state.phase.name;
  }

  relayChanges(): { t: number; level: Level }[] {
    return this.log.flatMap((l) => (l.effect.kind === 'relay' ? [{ t: l.t, level: l.effect.level }] : []));
  }

  events(type?: string): EventBody[] {
    return this.log.flatMap((l) => (l.effect.kind === 'event' && (!type || l.effect.event.type === type) ? [l.effect.event] : []));
  }

  private record(s: Step): void {
    this.last = s;
    for (const effect of s.effects) this.log.push({ t: this.now, effect });
  }
}
