import { describe, it, expect } from 'vitest';
import { makeGate, T0 } from '../helpers/gate.js';
import { loadTrust } from '../../device/documents.js';

describe('loadTrust', () => {
  it('compiles a bundle once per version and again when a new one arrives', async () => {
    const gate = await makeGate();
    try {
      const first = loadTrust(gate.store);
      expect(loadTrust(gate.store)).toBe(first);
      gate.ingest(gate.fed.trustEnvelope(2, T0));
      const second = loadTrust(gate.store);
      expect(second).not.toBe(first);
      expect(second?.version).toBe(2);
    } finally {
      await gate.close();
    }
  });
});
