/** What a technician (and R/status) sees: versions, ages, counts, clock trust and outbox depth. */
import type { Clock } from './core/ports.js';
import type { GateStore } from './store/store.js';
import type { ListName } from './core/types.js';
import type { ClockTrustState } from './clock-trust.js';

export function gateStatus(store: GateStore, clock: Clock & { state?(): ClockTrustState }) {
  const now = clock.nowMs();
  const age = (ms: number | null | undefined) => (ms == null ? null : Math.round((now - ms) / 1000));
  const identity = store.identity();
  const trust = store.document('trust');
  const policy = store.document('policy');
  const bundle = trust?.payload as { expiresAt?: number; issuers?: unknown[] } | undefined;
  const outbox = store.outboxStats();
  const list = (l: ListName) => {
    const m = store.meta(l);
    return { version: m.version, ageSeconds: age(m.updatedAtMs), entries: store.count(l) };
  };
  return {
    site: identity?.site ?? null,
    gate: identity?.gate ?? null,
    initialised: identity !== null,
    clock: clockStatus(clock, now),
    trust: trust
      ? { version: trust.version, ageSeconds: age(trust.updatedAtMs), expiresAt: bundle?.expiresAt ?? null, stale: now > (bundle?.expiresAt ?? 0) * 1000, issuers: bundle?.issuers?.length ?? 0 }
      : null,
    policy: { version: policy?.version ?? 0, ageSeconds: age(policy?.updatedAtMs), defaults: policy === null },
    lists: { tokens: list('tokens'), holders: list('holders') },
    outbox: { depth: outbox.depth, oldestAgeSeconds: age(outbox.oldestTsMs), lastSeq: outbox.lastSeq },
  };
}

/** Clock trust with its reason and floor when the clock can say (TrustingClock). */
function clockStatus(clock: Clock & { state?(): ClockTrustState }, now: number) {
  const s = clock.state?.();
  if (!s) return { trusted: clock.trusted(), nowMs: now };
  return { trusted: s.trusted, nowMs: now, reason: s.reason, mode: s.mode, floorMs: s.floorMs, behindFloor: s.behindFloor, synchronised: s.sync.synchronised };
}
