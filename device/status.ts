/** What a technician (and R/status) sees: versions, ages, counts, clock trust and outbox depth. */
import type { Clock } from './core/ports.js';
import type { GateStore } from './store/store.js';
import type { ListName } from './core/types.js';
import type { ClockTrustState } from './clock-trust.js';
import { describeSkipped } from './core/trust.js';
import { loadTrust } from './documents.js';

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
      ? {
          version: trust.version,
          ageSeconds: age(trust.updatedAtMs),
          expiresAt: bundle?.expiresAt ?? null,
          stale: now > (bundle?.expiresAt ?? 0) * 1000,
          issuers: bundle?.issuers?.length ?? 0,
          keysLeftOut: keysLeftOut(store),
        }
      : null,
    policy: { version: policy?.version ?? 0, ageSeconds: age(policy?.updatedAtMs), defaults: policy === null },
    lists: { tokens: list('tokens'), holders: list('holders') },
    outbox: { depth: outbox.depth, oldestAgeSeconds: age(outbox.oldestTsMs), lastSeq: outbox.lastSeq },
  };
}

/** Clock trust with its reason and floor when the clock can say (TrustingClock). */
function clockStatus(clock: Clock & { state?(): ClockTrustState }, now: number) {
  const s = clock.state?.();
  return {
    trusted: s ? s.trusted : clock.trusted(),
    nowMs: now,
    reason: s?.reason ?? null,
    mode: s?.mode ?? null,
    floorMs: s?.floorMs ?? null,
    behindFloor: s?.behindFloor ?? null,
    synchronised: s?.sync.synchronised ?? null,
  };
}

/** Keys of the held bundle that the gate does not use, and why (§1), for a technician to see. */
function keysLeftOut(store: GateStore): string[] {
  try {
    return loadTrust(store)?.skipped.map(describeSkipped) ?? [];
  } catch (e) {
    return [`trust bundle could not be compiled: ${(e as Error).message}`];
  }
}
