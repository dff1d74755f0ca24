import { describe, it, expect } from 'vitest';
import { makeGate, T0 } from '../helpers/gate.js';
import { loadTrust } from '../../device/documents.js';
import { sm2TablesBuilt } from '../../device/core/crypto/sm2.js';

describe('loadTrust', () => {
  it('compiles a bundle once per version and again when a new one arrives', () => {
    const gate = makeGate();
    try {
      const first = loadTrust(gate.store);
      expect(loadTrust(gate.store)).toBe(first);
      gate.ingest(gate.fed.trustEnvelope(2, T0));
      const second = loadTrust(gate.store);
      expect(second).not.toBe(first);
      expect(second?.version).toBe(2);
    } finally {
      gate.close();
    }
  });

  it('a new bundle version reuses the verify functions (and SM2 tables) of the keys it keeps', () => {
    const gate = makeGate();
    try {
      const first = loadTrust(gate.store)!;
      const built = sm2TablesBuilt();
      gate.ingest(gate.fed.trustEnvelope(2, T0));
      const second = loadTrust(gate.store)!;
      expect(sm2TablesBuilt()).toBe(built);
      const sm2Kid = gate.fed.issuer('CN-440000').kid;
      expect(second.keysByKid.get(sm2Kid)![0]!.verify).toBe(first.keysByKid.get(sm2Kid)![0]!.verify);
    } finally {
      gate.close();
    }
  });
});
