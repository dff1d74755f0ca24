/**
 * Ingests signed envelopes of every `typ` (§4–§7) into the store: verify against the keys of the
 * role the `typ` demands, validate, then apply in one transaction. A refusal throws PassgateError
 * and leaves the store as it was.
 */
import { PassgateError } from './core/errors.js';
import { openEnvelope, parseEnvelope, type EnvelopeType } from './core/envelope.js';
import { compileTrust, parseTrustBundle, type Trust } from './core/trust.js';
import { parsePolicy } from './core/policy.js';
import { parseListPayload } from './core/lists.js';
import { checkCommand, parseLookupReply, type Command, type LookupReply } from './core/signed-command.js';
import type { Clock } from './core/ports.js';
import type { GateStore } from './store/store.js';
import { loadPolicy, loadTrust, pinnedRoots } from './documents.js';

export type Ingested =
  | { typ: 'passgate-trust+json'; outcome: 'applied' | 'ignored'; version: number; skippedKeys: readonly string[] }
  | { typ: 'passgate-policy+json'; outcome: 'applied' | 'ignored'; version: number }
  | { typ: 'passgate-list+json'; outcome: 'applied' | 'ignored'; list: string; version: number }
  | { typ: 'passgate-list+json'; outcome: 'staged'; list: string; snapshot: number; received: number; chunks: number }
  | { typ: 'passgate-lookup+json'; outcome: 'verified'; reply: LookupReply }
  | { typ: 'passgate-cmd+json'; outcome: 'verified'; kid: string; command: Command };

/** Ingests one envelope. `expected` pins the typ when the channel it arrived on implies one. */
export function ingestEnvelope(text: string, store: GateStore, clock: Clock, expected?: EnvelopeType): Ingested {
  const identity = store.identity();
  if (!identity) throw new PassgateError('NOT_INITIALISED', 'run passgate init first');
  const env = parseEnvelope(text);
  if (expected && env.typ !== expected) throw new PassgateError('WRONG_TYPE', `expected ${expected}, got ${env.typ}`);
  const nowMs = clock.nowMs();

  if (env.typ === 'passgate-trust+json') {
    const bundle = parseTrustBundle(openEnvelope(env, env.typ, pinnedRoots(identity)));
    const skew = loadPolicy(store).maxClockSkewSeconds;
    if (clock.trusted() && bundle.issuedAt > nowMs / 1000 + skew) {
      throw new PassgateError('NOT_YET_VALID', `trust bundle ${bundle.version} issued in the future`);
    }
    const compiled = compileTrust(bundle); // refuses what cannot be compiled before anything is stored
    const outcome = store.replaceDocument('trust', bundle.version, bundle, nowMs);
    return { typ: env.typ, outcome, version: bundle.version, skippedKeys: compiled.skipped };
  }

  const trust = requireTrust(store);
  switch (env.typ) {
    case 'passgate-policy+json': {
      const raw = openEnvelope(env, env.typ, trust.signers.policy);
      const policy = parsePolicy(raw);
      const outcome = store.replaceDocument('policy', policy.version, raw, nowMs);
      return { typ: env.typ, outcome, version: policy.version };
    }
    case 'passgate-list+json': {
      const parsed = parseListPayload(openEnvelope(env, env.typ, trust.signers.lists));
      if (parsed.kind === 'delta') {
        const { delta } = parsed;
        const verdict = store.applyDelta(delta, nowMs);
        const held = store.meta(delta.list).version;
        if (verdict === 'gap') {
          throw new PassgateError('LIST_GAP', `${delta.list} delta ${delta.from}→${delta.to} does not follow ${held}`, {
            list: delta.list,
            have: held,
          });
        }
        return { typ: env.typ, outcome: verdict === 'apply' ? 'applied' : 'ignored', list: delta.list, version: held };
      }
      const { chunk } = parsed;
      const r = store.stageChunk(chunk, nowMs);
      switch (r.state) {
        case 'count-mismatch':
          throw new PassgateError('COUNT_MISMATCH', `${chunk.list} snapshot ${chunk.snapshot}: ${r.entries} entries, expected ${r.count}`, {
            list: chunk.list,
            have: store.meta(chunk.list).version,
          });
        case 'staged':
          return { typ: env.typ, outcome: 'staged', list: chunk.list, snapshot: chunk.snapshot, received: r.received, chunks: r.chunks };
        case 'swapped':
          return { typ: env.typ, outcome: 'applied', list: chunk.list, version: r.version };
        case 'ignored':
          return { typ: env.typ, outcome: 'ignored', list: chunk.list, version: store.meta(chunk.list).version };
      }
    }
    case 'passgate-lookup+json':
      return { typ: 'passgate-lookup+json', outcome: 'verified', reply: parseLookupReply(openEnvelope(env, 'passgate-lookup+json', trust.signers.lists)) };
    case 'passgate-cmd+json': {
      const command = checkCommand(openEnvelope(env, env.typ, trust.signers.commands), identity.gate, nowMs, clock.trusted());
      if (!store.acceptCommandCounter(env.kid, command.ctr)) {
        throw new PassgateError('REPLAYED', `command counter ${command.ctr} is not above the last accepted from ${env.kid}`);
      }
      return { typ: env.typ, outcome: 'verified', kid: env.kid, command };
    }
  }
}

function requireTrust(store: GateStore): Trust {
  const trust = loadTrust(store);
  if (!trust) throw new PassgateError('UNKNOWN_KEY', 'no trust bundle yet: its signers are unknown');
  return trust;
}
