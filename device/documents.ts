/** The verified trust bundle and policy as the decision path uses them, loaded from the store. */
import { compileTrust, parseTrustBundle, rootKey, type Trust, type TrustedKey } from './core/trust.js';
import { DEFAULT_POLICY, parsePolicy } from './core/policy.js';
import { b64uDecode } from './core/b64u.js';
import type { Policy } from './core/types.js';
import type { GateStore, Identity } from './store/store.js';

export function loadTrust(store: GateStore): Trust | null {
  const doc = store.document('trust');
  return doc ? compileTrust(parseTrustBundle(doc.payload)) : null;
}

export function loadPolicy(store: GateStore): Policy {
  const doc = store.document('policy');
  return doc ? parsePolicy(doc.payload) : { ...DEFAULT_POLICY };
}

export function pinnedRoots(identity: Identity): TrustedKey[] {
  return identity.roots.map((r) => rootKey(b64uDecode(r)!));
}
