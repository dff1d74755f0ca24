/**
 * The decision pipeline (§8), pure: (presented input, trust, lists, policy, clock) → Decision.
 * Checks run in §8's order and the first that applies decides. An ID card whose holder is not in
 * the list may need the backend (policy `online`): then the outcome asks for a look-up and resumes
 * with its answer, so the I/O stays outside.
 */
import type { Action, Decision, Format, InputKind, ListName, Presented, Reason, Result, Status } from './types.js';
import type { DecisionContext, LookupAnswer } from './ports.js';
import type { VerifyOutcome } from './credential.js';
import type { Trust } from './trust.js';
import { issuerAccepted } from './policy.js';
import { HP1_PREFIX, verifyHp1 } from './hp1.js';
import { HC1_PREFIX, verifyHc1 } from './hc1.js';
import { holderHandle, normaliseIdNumber } from './idcard.js';
import { applyMode } from './mode.js';
import { displayName } from '../../base/display.js';

export type Outcome =
  | { kind: 'decided'; decision: Decision }
  | { kind: 'lookup'; holder: string; resume(answer: LookupAnswer | null): Decision };

interface CodeFormat {
  prefix: string;
  format: Exclude<Format, 'IDCARD'>;
  verify(text: string, trust: Trust | null): VerifyOutcome;
}

const CODE_FORMATS: readonly CodeFormat[] = [
  { prefix: HP1_PREFIX, format: 'HP1', verify: verifyHp1 },
  { prefix: HC1_PREFIX, format: 'HC1', verify: verifyHc1 },
];

/** Builds decisions for one presentation; fields learnt along the way are carried into the result. */
class Draft {
  format: Format | null = null;
  issuer: string | null = null;
  status: Status | null = null;
  handle: string | null = null;
  kid: string | null = null;
  displayName: string | null = null;
  constructor(readonly input: InputKind) {}

  decide(result: Result, reason: Reason, detail: string | null = null): Decision {
    return {
      result,
      reason,
      input: this.input,
      format: this.format,
      issuer: this.issuer,
      status: this.status,
      handle: this.handle,
      kid: this.kid,
      displayName: this.displayName,
      detail,
    };
  }
}

export function evaluate(presented: Presented, ctx: DecisionContext): Outcome {
  const outcome = evaluateAsPolicySays(presented, ctx);
  const mode = ctx.mode ?? null;
  if (!mode) return outcome;
  if (outcome.kind === 'decided') return { kind: 'decided', decision: applyMode(outcome.decision, mode) };
  return { ...outcome, resume: (answer) => applyMode(outcome.resume(answer), mode) };
}

function evaluateAsPolicySays(presented: Presented, ctx: DecisionContext): Outcome {
  const draft = new Draft(presented.input);
  const decided = (decision: Decision): Outcome => ({ kind: 'decided', decision });
  if ('unreadable' in presented) return decided(draft.decide('deny', 'UNREADABLE', presented.unreadable));
  if (presented.input === 'idcard') return evaluateIdCard(presented.idNumber, presented.maskedName ?? null, ctx, draft);
  return decided(evaluateCode(presented.text, ctx, draft));
}

function evaluateCode(text: string, ctx: DecisionContext, draft: Draft): Decision {
  if (text.length === 0) return draft.decide('deny', 'UNREADABLE', 'empty input');
  const fmt = CODE_FORMATS.find((f) => text.startsWith(f.prefix));
  if (!fmt) return draft.decide('deny', 'UNSUPPORTED_FORMAT', 'no known prefix');
  draft.format = fmt.format;
  if (!ctx.policy.acceptFormats.includes(fmt.format)) return draft.decide('deny', 'UNSUPPORTED_FORMAT', 'format not accepted by policy');

  const verified = fmt.verify(text, ctx.trust);
  if (!verified.ok) {
    draft.kid = verified.kid;
    return draft.decide('deny', verified.reason, verified.detail);
  }
  const cred = verified.credential;
  Object.assign(draft, { kid: cred.kid, issuer: cred.issuer, handle: cred.handle, status: cred.status, displayName: cred.displayName });
  const { policy, clock } = ctx;

  if (cred.keyProblem) return draft.decide('deny', 'KEY_NOT_VALID', cred.keyProblem);
  if (cred.issuerMismatch) return draft.decide('deny', 'ISSUER_MISMATCH');
  if (!issuerAccepted(policy, cred.issuer)) return draft.decide('deny', 'ISSUER_NOT_ACCEPTED');

  const trusted = clock.trusted();
  const nowMs = clock.nowMs();
  const now = Math.floor(nowMs / 1000);
  if (trusted) {
    if (cred.iat > now + policy.maxClockSkewSeconds) return draft.decide('deny', 'NOT_YET_VALID');
    if (cred.expInclusive ? now > cred.exp : now >= cred.exp) return draft.decide('deny', 'EXPIRED');
  }

  // A list entry older than the code's own status does not override it (§5).
  const entry = liveEntry(ctx, 'tokens', cred.handle, now);
  const listed = entry && (cred.statusAt === null || entry.at >= cred.statusAt) ? entry : undefined;
  if (listed?.s === 0) return draft.decide('deny', 'REVOKED');

  const held = staleness(ctx, nowMs, cred.paper ? 'tokens' : null);
  if (held) return held(draft);

  if (listed) draft.status = listed.s as Status;
  const action = draft.status === null ? policy.dcc : policy.status[colour(draft.status)];
  return finish(action, ctx, draft, nowMs);
}

function evaluateIdCard(raw: string, maskedName: string | null, ctx: DecisionContext, draft: Draft): Outcome {
  const decided = (decision: Decision): Outcome => ({ kind: 'decided', decision });
  draft.format = 'IDCARD';
  draft.displayName = displayName(maskedName); // whatever the reader made of the name, §2's rule applies
  const { policy, clock } = ctx;
  if (!policy.acceptFormats.includes('IDCARD')) return decided(draft.decide('deny', 'UNSUPPORTED_FORMAT', 'ID cards not accepted by policy'));
  const id = normaliseIdNumber(raw, clock.nowMs());
  if (!id) return decided(draft.decide('deny', 'ID_INVALID'));

  const nowMs = clock.nowMs();
  const held = staleness(ctx, nowMs, 'holders');
  if (held) return decided(held(draft));
  // Without a trust bundle there is no holder key and so no handle: nobody can be looked up.
  if (!ctx.trust) return decided(draft.decide('staff', 'HOLDER_UNKNOWN', 'no trust bundle yet'));
  draft.handle = holderHandle(ctx.trust.holderKey, id);

  const entry = liveEntry(ctx, 'holders', draft.handle, Math.floor(nowMs / 1000));
  if (entry) return decided(byStatus(entry.s, ctx, draft, nowMs));
  switch (policy.unknownHolder) {
    case 'online':
      return {
        kind: 'lookup',
        holder: draft.handle,
        resume(answer) {
          if (!answer) return draft.decide('staff', 'LOOKUP_TIMEOUT');
          if (answer.s === null) return draft.decide('staff', 'HOLDER_UNKNOWN', 'backend does not know the holder');
          return byStatus(answer.s, ctx, draft, clock.nowMs());
        },
      };
    case 'open':
      return decided(finish('open', ctx, draft, nowMs));
    default:
      return decided(draft.decide(policy.unknownHolder, 'HOLDER_UNKNOWN'));
  }
}

function byStatus(s: 0 | Status, ctx: DecisionContext, draft: Draft, nowMs: number): Decision {
  if (s === 0) return draft.decide('deny', 'REVOKED');
  draft.status = s;
  return finish(ctx.policy.status[colour(s)], ctx, draft, nowMs);
}

/** The status checks, anti-passback, and OK. */
function finish(action: Action, ctx: DecisionContext, draft: Draft, nowMs: number): Decision {
  if (action !== 'open') {
    // A status that policy holds or refuses is named by its colour; green held by policy reads as yellow.
    const reason = draft.status === 3 || (draft.status !== 2 && action === 'deny') ? 'STATUS_RED' : 'STATUS_YELLOW';
    return draft.decide(action, reason);
  }
  if (draft.handle) {
    const last = ctx.passback.lastOpenedMs(draft.handle);
    const elapsed = last === undefined ? Infinity : nowMs - last;
    if (elapsed >= 0 && elapsed < ctx.policy.antiPassbackSeconds * 1000) return draft.decide('deny', 'REPLAY');
  }
  return draft.decide('open', 'OK');
}

/**
 * CLOCK_UNTRUSTED, TRUST_STALE, LIST_STALE in that order; each follows its policy action, where
 * `open` means carry on. `list` is the list whose freshness this credential depends on.
 */
function staleness(ctx: DecisionContext, nowMs: number, list: ListName | null): ((d: Draft) => Decision) | null {
  const { policy, clock, trust } = ctx;
  const hold = (action: Action, reason: Reason, detail: string) => (action === 'open' ? null : (d: Draft) => d.decide(action, reason, detail));
  if (!clock.trusted()) {
    const h = hold(policy.clockUntrusted, 'CLOCK_UNTRUSTED', 'gate clock not trusted');
    if (h) return h;
  }
  if (trust && nowMs > trust.expiresAt * 1000) {
    const h = hold(policy.staleTrust, 'TRUST_STALE', 'trust bundle expired');
    if (h) return h;
  }
  if (list) {
    const { updatedAtMs } = ctx.lists.meta(list);
    if (updatedAtMs === null || nowMs - updatedAtMs > policy.listMaxAgeSeconds * 1000) {
      const h = hold(policy.staleTrust, 'LIST_STALE', `${list} list not updated within listMaxAgeSeconds`);
      if (h) return h;
    }
  }
  return null;
}

/** An entry past its `until` may be pruned any time; until then it counts. */
function liveEntry(ctx: DecisionContext, list: ListName, key: string, now: number) {
  const e = ctx.lists.entry(list, key);
  return e && e.until >= now ? e : undefined;
}

function colour(s: Status): 'green' | 'yellow' | 'red' {
  return s === 1 ? 'green' : s === 2 ? 'yellow' : 'red';
}
