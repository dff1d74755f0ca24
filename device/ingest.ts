/**
 * Ingests signed envelopes of every `typ` (§4–§7) into the store: verify against the keys of the
 * role the `typ` demands, validate, then apply in one transaction. A refusal throws PassgateError
 * and leaves the store as it was.
 */
import { PassgateError } from '../base/errors.js';
import { openEnvelope, parseEnvelope, type EnvelopeType, type ParsedEnvelope } from './core/envelope.js';
import { compileTrust, parseTrustBundle, type SkippedKey, type Trust, type TrustedKey } from './core/trust.js';
import { parsePolicy } from './core/policy.js';
import { parseListPayload } from './core/lists.js';
import { checkCommand, parseLookupReply, type Command, type LookupReply } from './core/signed-command.js';
import { audienceOf, checkAck, type EventsAck } from './core/ack.js';
import type { Clock } from './core/ports.js';
import type { GateStore } from './store/store.js';
import { compiledTrustInMemory, keepCompiledTrust, loadPolicy, loadTrust, pinnedRoots } from './documents.js';

export type Ingested =
  /** `skippedKeys`: keys left out of the bundle as applied, with why (§1); empty when ignored. */
  | { typ: 'passgate-trust+json'; outcome: 'applied' | 'ignored'; version: number; skippedKeys: readonly SkippedKey[] }
  | { typ: 'passgate-policy+json'; outcome: 'applied' | 'ignored'; version: number }
  | { typ: 'passgate-list+json'; outcome: 'applied' | 'ignored'; list: string; version: number }
  | { typ: 'passgate-list+json'; outcome: 'staged'; list: string; snapshot: number; received: number; chunks: number }
  | { typ: 'passgate-lookup+json'; outcome: 'verified'; reply: LookupReply }
  | { typ: 'passgate-cmd+json'; outcome: 'verified'; kid: string; command: Command }
  | { typ: 'passgate-ack+json'; outcome: 'verified'; ack: EventsAck };

/** A command envelope that verified against `signers.commands`: its payload is not checked yet. */
export interface VerifiedCommand {
  kid: string;
  payload: unknown;
}

/**
 * Ingests one envelope. `expected` pins the typ when the channel it arrived on implies one. A verified
 * envelope raises the clock floor to its `iat`/`issuedAt`: its signer vouches that that time has passed.
 */
export function ingestEnvelope(text: string, store: GateStore, clock: Clock, expected?: EnvelopeType): Ingested {
  let signedMs = 0;
  // The envelope is parsed and its payload decoded once (a million-entry delta is tens of MB): the
  // issue time is read from the payload as it is opened.
  const open = (env: ParsedEnvelope, typ: EnvelopeType, signers: readonly TrustedKey[]): unknown => {
    const payload = openEnvelope(env, typ, signers);
    signedMs = signedTimeMs(payload);
    return payload;
  };
  const r = ingestVerified(text, store, clock, open, expected);
  store.raiseClockFloor(signedMs);
  return r;
}

/** Verifies an envelope and returns its payload (openEnvelope), noting its issue time. */
type Open = (env: ParsedEnvelope, typ: EnvelopeType, signers: readonly TrustedKey[]) => unknown;

/** A verified payload's issue time in ms (0 if none). */
function signedTimeMs(payload: unknown): number {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { iat?: unknown; issuedAt?: unknown };
  const t = typeof p.iat === 'number' ? p.iat : typeof p.issuedAt === 'number' ? p.issuedAt : 0;
  return Number.isFinite(t) ? t * 1000 : 0;
}

function ingestVerified(text: string, store: GateStore, clock: Clock, open: Open, expected?: EnvelopeType): Ingested {
  const identity = store.identity();
  if (!identity) throw new PassgateError('NOT_INITIALISED', 'run passgate init first');
  const env = parseEnvelope(text);
  if (expected && env.typ !== expected) throw new PassgateError('WRONG_TYPE', `expected ${expected}, got ${env.typ}`);
  const nowMs = clock.nowMs();

  if (env.typ === 'passgate-trust+json') {
    const bundle = parseTrustBundle(open(env, env.typ, pinnedRoots(identity)));
    const skew = loadPolicy(store).maxClockSkewSeconds;
    if (clock.trusted() && bundle.issuedAt > nowMs / 1000 + skew) {
      throw new PassgateError('NOT_YET_VALID', `trust bundle ${bundle.version} issued in the future`);
    }
    // Compiled (keys checked, SM2 tables built) only when it will replace the bundle held: a
    // retained bundle delivered again at every reconnect costs nothing.
    const held = store.documentVersion('trust');
    const compiled = held !== null && bundle.version <= held ? null : compileTrust(bundle, compiledTrustInMemory(store));
    const outcome = store.replaceDocument('trust', bundle.version, bundle, nowMs);
    if (outcome === 'applied' && compiled) keepCompiledTrust(store, compiled);
    return { typ: env.typ, outcome, version: bundle.version, skippedKeys: outcome === 'applied' ? (compiled?.skipped ?? []) : [] };
  }

  const trust = requireTrust(store);
  switch (env.typ) {
    case 'passgate-policy+json': {
      const raw = open(env, env.typ, trust.signers.policy);
      const policy = parsePolicy(raw);
      const outcome = store.replaceDocument('policy', policy.version, raw, nowMs);
      return { typ: env.typ, outcome, version: policy.version };
    }
    case 'passgate-list+json': {
      const parsed = parseListPayload(open(env, env.typ, trust.signers.lists));
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
      return { typ: 'passgate-lookup+json', outcome: 'verified', reply: parseLookupReply(open(env, 'passgate-lookup+json', trust.signers.lists)) };
    case 'passgate-cmd+json': {
      const verified = { kid: env.kid, payload: open(env, env.typ, trust.signers.commands) };
      return { typ: env.typ, outcome: 'verified', kid: env.kid, command: acceptCommand(verified, store, clock) };
    }
    case 'passgate-ack+json': {
      const ack = checkAck(open(env, env.typ, trust.signers.lists), audienceOf(identity));
      const last = store.outboxBounds().lastSeq;
      // An ack beyond any seq this store handed out (a reprovisioned gate reusing an id, a confused or
      // replaying backend): deleting on its word would lose events never stored.
      if (ack.upTo > last) throw new PassgateError('ACK_BEYOND_LAST_SEQ', `ack up to ${ack.upTo}, last seq assigned ${last}`);
      return { typ: env.typ, outcome: 'verified', ack };
    }
  }
}

/**
 * A command's first stage: the envelope is well formed, of typ `passgate-cmd+json` and verifies
 * against `signers.commands`. Throws otherwise — and then nothing in it may be trusted (§7).
 */
export function verifyCommandEnvelope(text: string, store: GateStore): VerifiedCommand {
  if (!store.identity()) throw new PassgateError('NOT_INITIALISED', 'run passgate init first');
  const env = parseEnvelope(text);
  if (env.typ !== 'passgate-cmd+json') throw new PassgateError('WRONG_TYPE', `expected passgate-cmd+json, got ${env.typ}`);
  return { kid: env.kid, payload: openEnvelope(env, env.typ, requireTrust(store).signers.commands) };
}

/**
 * A verified command's second stage: payload, audience (`<site>/<gate>`), expiry, then the counter
 * (raised only when everything else holds). Throws the refusal of a verified command.
 */
export function acceptCommand(verified: VerifiedCommand, store: GateStore, clock: Clock): Command {
  const identity = store.identity();
  if (!identity) throw new PassgateError('NOT_INITIALISED', 'run passgate init first');
  const command = checkCommand(verified.payload, audienceOf(identity), clock.nowMs(), clock.trusted());
  if (!store.acceptCommandCounter(verified.kid, command.ctr)) {
    throw new PassgateError('REPLAYED', `command counter ${command.ctr} is not above the last accepted from ${verified.kid}`);
  }
  return command;
}

function requireTrust(store: GateStore): Trust {
  const trust = loadTrust(store);
  if (!trust) throw new PassgateError('UNKNOWN_KEY', 'no trust bundle yet: its signers are unknown');
  return trust;
}
