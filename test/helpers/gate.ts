/** A provisioned gate in a temp directory, with a fresh federation: the starting point of most tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../../device/store/store.js';
import { ingestEnvelope } from '../../device/ingest.js';
import { FixedClock } from '../../device/clock.js';
import { Verifier, type LookupPort } from '../../device/verifier.js';
import { Federation } from '../../scripts/lib/federation.js';
import { issueHp1, signEnvelope, type Hp1Claims } from '../../scripts/lib/issuer.js';
import type { Policy } from '../../device/core/types.js';

/** 2026-11-27T00:00:00Z: tests decide at fixed times. */
export const T0 = 1_795_737_600;

let shared: Federation | undefined;
/** Key generation (SM2 especially) is slow-ish: one federation serves every test in a file. */
export function sharedFederation(): Federation {
  return (shared ??= Federation.create());
}

export interface TestGate {
  dir: string;
  fed: Federation;
  store: GateStore;
  clock: FixedClock;
  verifier: Verifier;
  ingest(text: string): ReturnType<typeof ingestEnvelope>;
  code(issuer: string, c?: Partial<Hp1Claims>): { text: string; handle: string };
  /** Marks both lists fresh (a heartbeat delta each), as a synced gate would be. */
  freshLists(): void;
  close(): void;
}

export function makeGate(o: { policy?: Partial<Policy>; lookup?: LookupPort; fed?: Federation } = {}): TestGate {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-test-'));
  const fed = o.fed ?? sharedFederation();
  const store = GateStore.open(dir, { durability: 'normal' });
  const clock = new FixedClock(T0 * 1000);
  store.initialise({ site: 'test-site', gate: 'gate-1', roots: [fed.rootSpki()] });
  const ingest = (text: string) => ingestEnvelope(text, store, clock);
  ingest(fed.trustEnvelope(1, T0 - 3600));
  if (o.policy) ingest(fed.policyEnvelope({ version: 1, ...o.policy }));
  const verifier = new Verifier(store, clock, o.lookup);
  const versions = { tokens: 0, holders: 0 };
  return {
    dir,
    fed,
    store,
    clock,
    verifier,
    ingest: (text) => {
      const r = ingest(text);
      verifier.reload();
      return r;
    },
    code: (issuer, c = {}) =>
      issueHp1(fed.issuer(issuer), { iss: issuer, iat: T0 - 60, exp: T0 + 540, status: 1, kind: 'dynamic', ...c }),
    freshLists() {
      for (const list of ['tokens', 'holders'] as const) {
        const from = store.meta(list).version;
        ingest(signEnvelope(fed.listSigner, 'passgate-list+json', { list, from, to: from + 1, put: [], del: [] }));
        versions[list] = from + 1;
      }
    },
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
