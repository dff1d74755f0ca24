/**
 * The decision service: the pure pipeline plus what it cannot do itself — the online look-up, the
 * timing, and committing the event (and anti-passback memory) before anyone may act on an `open`.
 */
import { SILENT, type Logger } from '../base/log.js';
import { evaluate } from './core/decide.js';
import type { Clock, DecisionContext, LookupAnswer } from './core/ports.js';
import type { Decision, Policy, Presented } from './core/types.js';
import type { Trust } from './core/trust.js';
import type { GateStore } from './store/store.js';
import { loadPolicy, loadTrust } from './documents.js';
import { EventRecorder, decisionBody, type Versions } from './events.js';
import { ModeOverrides } from './modes.js';

/** Asks the backend about a holder (§7); resolves null when no answer comes in time. */
export interface LookupPort {
  lookup(holder: string, timeoutMs: number): Promise<LookupAnswer | null>;
}

/** Until the MQTT link is wired in, nobody can be asked: the look-up is unavailable (→ LOOKUP_TIMEOUT). */
export const NO_LOOKUP: LookupPort = { lookup: async () => null };

export interface Verdict {
  decision: Decision;
  /** The outbox seq of its event; null on a dry run or when it could not be recorded. */
  seq: number | null;
  latencyUs: number;
}


export interface VerifierOptions {
  /**
   * Build the SM2 keys' tables after each load, one per event-loop turn, so that a decision can run
   * between two builds (default true). A one-shot command passes false: it would pay for tables it
   * never uses.
   */
  backgroundTables?: boolean;
}

export class Verifier {
  private trust: Trust | null = null;
  /** Bumped by every reload: the table builds of a trust reloaded since stop. */
  private tableRun = 0;
  private policy!: Policy;
  private readonly modes: ModeOverrides;
  /** The tail of the decision queue: each decision starts when the one before it has committed. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: GateStore,
    private readonly clock: Clock,
    private readonly lookup: LookupPort = NO_LOOKUP,
    private readonly log: Logger = SILENT,
    /** Where decisions are recorded; the composition root passes the gate's one recorder (on the bus). */
    private readonly recorder: EventRecorder = new EventRecorder(store, clock),
    private readonly options: VerifierOptions = {},
  ) {
    this.modes = new ModeOverrides(store, clock);
    this.reload();
  }

  /** Re-reads trust and policy after the store changed. */
  reload(): void {
    this.trust = loadTrust(this.store);
    this.policy = loadPolicy(this.store);
    if (this.options.backgroundTables !== false) this.buildTablesInBackground();
  }

  /**
   * Runs the trust's pending table builds one per `setImmediate` turn (each blocks for tens of
   * milliseconds), never inside a decision; unref'd, so they hold no process open.
   */
  private buildTablesInBackground(): void {
    const run = ++this.tableRun;
    const steps = this.trust?.pendingTables() ?? [];
    const next = (): void => {
      const step = steps.shift();
      if (run !== this.tableRun || !step) return;
      try {
        step();
      } catch (e) {
        this.log.error({ err: e }, 'could not build an SM2 verification table (its key verifies without one)');
      }
      setImmediate(next).unref();
    };
    if (steps.length > 0) setImmediate(next).unref();
  }

  currentPolicy(): Policy {
    return this.policy;
  }

  versions(): Versions {
    return {
      trust: this.trust?.version ?? 0,
      policy: this.policy.version,
      tokens: this.store.meta('tokens').version,
      holders: this.store.meta('holders').version,
    };
  }

  /**
   * Decides and records, one presentation at a time in arrival order, whatever the input: the
   * anti-passback memory a decision reads is the one every earlier decision has already written,
   * even when an online look-up awaits in between (two copies of a code in one serial write opened
   * twice when two decisions interleaved).
   */
  verify(presented: Presented, options: { dryRun?: boolean } = {}): Promise<Verdict> {
    const turn = this.queue.then(() => this.verifyNow(presented, options));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async verifyNow(presented: Presented, options: { dryRun?: boolean }): Promise<Verdict> {
    const started = process.hrtime.bigint();
    let decision = await this.decide(presented);
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n);
    if (options.dryRun) return { decision, seq: null, latencyUs };
    try {
      const opened = decision.result === 'open' ? decision.handle : null;
      const seq = this.recorder.record(decisionBody(decision, this.versions(), latencyUs), opened, decision.displayName);
      return { decision, seq, latencyUs };
    } catch (e) {
      // Not recorded means not opened: an open that leaves no trace is worse than a held commuter.
      this.log.error({ err: e, reason: decision.reason }, 'could not record the decision');
      if (decision.result === 'open') decision = { ...decision, result: 'error', reason: 'INTERNAL', detail: 'event could not be recorded' };
      return { decision, seq: null, latencyUs };
    }
  }

  /** What the pure pipeline decides against right now. */
  context(): DecisionContext {
    return { clock: this.clock, trust: this.trust, policy: this.policy, lists: this.store, passback: this.store, mode: this.modes.current() };
  }

  private async decide(presented: Presented): Promise<Decision> {
    try {
      const outcome = evaluate(presented, this.context());
      if (outcome.kind === 'decided') return outcome.decision;
      const answer = await this.lookup.lookup(outcome.holder, this.policy.lookupTimeoutMs).catch(() => null);
      return outcome.resume(answer);
    } catch (e) {
      this.log.error({ err: e }, 'decision pipeline failed');
      return {
        result: 'error',
        reason: 'INTERNAL',
        input: presented.input,
        format: null,
        issuer: null,
        status: null,
        handle: null,
        kid: null,
        displayName: null,
        detail: 'internal error',
      };
    }
  }
}
