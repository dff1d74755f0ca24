/**
 * The end-to-end gate benchmark runs, with a handful of samples: pty → driver → verifier (durable
 * commit) → gate machine → relay, for code lines and ID cards. Numbers are machine-dependent: only
 * their shape is checked, never a timing target.
 */
import { describe, expect, it } from 'vitest';
import { benchGate } from '../../scripts/bench/gate.js';
import { socatAvailable } from '../../drivers/serial/pty-pair.js';

describe('benchGate', () => {
  it('measures both paths end to end with a few samples', async () => {
    if (!socatAvailable()) throw new Error('socat is needed for the pty benchmark: apt-get install -y socat');
    const r = await benchGate({ samples: 12 });
    expect(r.samples).toBe(12);
    for (const v of [r.ptyLineToRelayP50Ms, r.ptyLineToRelayP99Ms, r.idFrameToRelayP50Ms, r.idFrameToRelayP99Ms]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    expect(r.ptyLineToRelayP99Ms).toBeGreaterThanOrEqual(r.ptyLineToRelayP50Ms);
    expect(r.idFrameToRelayP99Ms).toBeGreaterThanOrEqual(r.idFrameToRelayP50Ms);
    expect(r.idReadWireMs115200).toBeCloseTo(112.413, 2);
    for (const path of [r.breakdown.line, r.breakdown.id]) {
      for (const stage of [path.transport, path.decide, path.commit, path.gate]) expect(stage.p50Ms).toBeGreaterThanOrEqual(0);
    }
  });
});
