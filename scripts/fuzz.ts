/**
 * `npm run fuzz`: the property tests' inputs, a million of each by default (FUZZ_RUNS to change),
 * against a freshly provisioned gate. Exits non-zero with the counterexample on the first failure.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateStore } from '../device/store/store.js';
import { ingestEnvelope } from '../device/ingest.js';
import { Verifier } from '../device/verifier.js';
import { SystemClock } from '../device/clock.js';
import { evaluate } from '../device/core/decide.js';
import { parseEnvelope } from '../device/core/envelope.js';
import { parseListPayload } from '../device/core/lists.js';
import { isPassgateError } from '../base/errors.js';
import { Federation } from './lib/federation.js';
import { issueHp1 } from './lib/issuer.js';
import { codeArbitrary, decoderProperty, envelopeArbitrary, listPayloadArbitrary } from './lib/fuzz-properties.js';

const runs = Number(process.env.FUZZ_RUNS ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'passgate-fuzz-'));
try {
  const fed = Federation.create();
  const clock = new SystemClock();
  const now = Math.floor(Date.now() / 1000);
  const store = GateStore.open(dir, { durability: 'normal' });
  store.initialise({ site: 'fuzz', gate: 'g', roots: [fed.rootSpki()] });
  ingestEnvelope(fed.trustEnvelope(1, now), store, clock);
  const ctx = new Verifier(store, clock).context();
  const valid = [...fed.issuers.values()].map((i) => issueHp1(i.key, { iss: i.id, iat: now, exp: now + 600, status: 1, kind: 'dynamic' }).text);

  const stage = (name: string, property: fc.IRawProperty<[unknown]> | fc.IRawProperty<[string]>) => {
    const t = Date.now();
    fc.assert(property as fc.IRawProperty<[unknown]>, { numRuns: runs });
    console.log(`${name}: ${runs} inputs, no failure (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  };
  stage('HP1/HC1 decoder', decoderProperty(codeArbitrary(valid), (text) => evaluate({ input: 'qr', text }, ctx)));
  const onlyBadEncoding = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!isPassgateError(e) || e.code !== 'BAD_ENCODING') throw e;
    }
  };
  stage('envelope parser', fc.property(envelopeArbitrary(fed.trustEnvelope(2, now)), (t) => onlyBadEncoding(() => parseEnvelope(t))));
  stage('list payload parser', fc.property(listPayloadArbitrary(), (p) => onlyBadEncoding(() => parseListPayload(p))));
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
