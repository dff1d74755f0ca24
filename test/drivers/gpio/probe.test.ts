/**
 * The relay probe of the simulated twin: what the demo draws, the bench times and tests assert.
 * Times come from an injected clock, so the pulse lengths below are exact.
 */
import { describe, expect, it } from 'vitest';
import { MemoryGpio } from '../../../drivers/gpio/line.js';
import { RelayProbe } from '../../../drivers/gpio/probe.js';

/** An active-low relay line claimed released, a probe on it, and a hand-driven clock. */
async function wired(): Promise<{ probe: RelayProbe; write: (level: 0 | 1, atMs: number) => void }> {
  const gpio = new MemoryGpio();
  let now = 0;
  const probe = new RelayProbe(gpio, 17, true, () => now);
  const line = await gpio.output(17, 1);
  return {
    probe,
    write: (level, atMs) => {
      now = atMs;
      line.write(level);
    },
  };
}

describe('RelayProbe', () => {
  it('reads the coil through active-low wiring and counts a re-asserted level as no change', async () => {
    const { probe, write } = await wired();
    expect(probe.energised).toBe(false);
    write(0, 10);
    write(0, 20); // re-asserted
    write(1, 310);
    write(1, 400);
    expect(probe.changesSince(0)).toEqual([
      { energised: true, atMs: 10 },
      { energised: false, atMs: 310 },
    ]);
    expect(probe.pulsesSince(0)).toEqual([300]);
    expect(probe.pulsedSince(0)).toBe(true);
    expect(probe.energisedSince(0)).toEqual({ energised: true, atMs: 10 });
  });

  it('a mark inside a pulse sees its end as a change, not as a pulse', async () => {
    const { probe, write } = await wired();
    write(0, 10);
    const mark = probe.mark();
    write(1, 50);
    expect(probe.changesSince(mark)).toEqual([{ energised: false, atMs: 50 }]);
    expect(probe.pulsesSince(mark)).toEqual([]);
  });

  it('nextEnergised resolves with the time of the energising write', async () => {
    const { probe, write } = await wired();
    const next = probe.nextEnergised(1000, 'a pulse');
    write(1, 5); // at rest: not it
    write(0, 42);
    await expect(next.at).resolves.toBe(42);
  });

  it('nextEnergised rejects at once on fail(why), and on close()', async () => {
    const { probe } = await wired();
    const refused = probe.nextEnergised(1000, 'code 3');
    refused.fail('refuse REVOKED');
    await expect(refused.at).rejects.toThrow('code 3: relay not energised: refuse REVOKED');
    const pending = probe.nextEnergised(1000, 'code 4');
    probe.close();
    await expect(pending.at).rejects.toThrow(/closed/);
  });
});
