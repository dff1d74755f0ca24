/** The verified trust bundle and policy as the decision path uses them, loaded from the store. */
import { compileTrust, parseTrustBundle, rootKey, type Trust, type TrustedKey } from './core/trust.js';
import { DEFAULT_POLICY, parsePolicy } from './core/policy.js';
import { b64uDecode } from './core/b64u.js';
import type { Policy } from './core/types.js';
import type { GateStore, Identity } from './store/store.js';

/**
 * Compiled trust per store, by bundle version: a version names one bundle (§4: equal is ignored), so
 * every envelope ingested and every reload reuses the same verify functions — and SM2 keys keep the
 * tables they built — until a new bundle arrives.
 */
const compiled = new WeakMap<GateStore, Trust>();

export function loadTrust(store: GateStore): Trust | null {
  const version = store.documentVersion('trust');
  if (version === null) return null;
  const cached = compiled.get(store);
  if (cached?.version === version) return cached;
  const trust = compileTrust(parseTrustBundle(store.document('trust')!.payload), cached ?? null);
  compiled.set(store, trust);
  return trust;
}

/** The compiled bundle held in memory, if any (none compiled here): what a new bundle may reuse. */
export function compiledTrustInMemory(store: GateStore): Trust | null {
  return compiled.get(store) ?? null;
}

/** The bundle just applied, already compiled at ingest: kept so that it is not compiled twice. */
export function keepCompiledTrust(store: GateStore, trust: Trust): void {
  compiled.set(store, trust);
}

export function loadPolicy(store: GateStore): Policy {
  const doc = store.document('policy');
  return doc ? parsePolicy(doc.payload) : { ...DEFAULT_POLICY };
}

export function pinnedRoots(identity: Identity): TrustedKey[] {
  return identity.roots.map((r) => rootKey(b64uDecode(r)!));
}
