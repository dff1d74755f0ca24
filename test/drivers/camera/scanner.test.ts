import { describe, expect, it } from 'vitest';
import { CameraScanner, RepeatFilter } from '../../../drivers/camera/scanner.js';
import { SimulatedFrameSource, syntheticFrame } from '../../../drivers/camera/simulated.js';
import type { Presented } from '../../../device/core/types.js';
import type { FrameSource } from '../../../drivers/camera/source.js';

describe('RepeatFilter', () => {
  it('one scan per presentation: repeats only after a different text or a gap', () => {
    const f = new RepeatFilter(1000);
    const seen = (text: string, t: number) => f.accept(text, t);
    expect([seen('A', 0), seen('A', 100), seen('A', 900), seen('A', 1800)]).toEqual([true, false, false, false]); // seen every < 1 s
    expect(seen('A', 2801)).toBe(true); // out of sight for more than 1 s
    expect([seen('B', 2900), seen('A', 3000), seen('A', 3100)]).toEqual([true, true, false]);
  });
});

/** Frames whose bytes are their "code" (empty: no code); decoding is a lookup, time advances per frame. */
function scripted(texts: string[], stepMs: number) {
  let clock = 0;
  const source = new SimulatedFrameSource(texts.map((t) => Buffer.from(t)), { end: true });
  const decode = (frame: Buffer) => {
    clock += stepMs;
    const text = frame.toString();
    if (text === 'BROKEN') return Promise.reject(new Error('not an image'));
    return Promise.resolve(text ? [text] : []);
  };
  return { source, decode, now: () => clock };
}

async function run(scanner: CameraScanner): Promise<Presented[]> {
  const scans: Presented[] = [];
  scanner.on('scan', (p) => scans.push(p));
  await scanner.start();
  await scanner.done();
  return scans;
}

describe('CameraScanner', () => {
  it('collapses a code seen in consecutive frames (and a flickering one) into one scan', async () => {
    const s = scripted(['', 'A', 'A', '', 'A', 'A', 'B', 'B', 'A', '', '', '', '', '', '', 'A', 'BROKEN', 'A'], 100);
    const scanner = new CameraScanner({ ...s, repeatGapMs: 500 });
    const states: string[] = [];
    scanner.on('state', (st) => states.push(st));
    const scans = await run(scanner);
    expect(scans).toEqual(['A', 'B', 'A', 'A'].map((text) => ({ input: 'qr', text })));
    expect(scanner.health()).toMatchObject({
      state: 'stopped',
      counters: { frames: 18, decodes: 9, scans: 4, repeats: 5, errors: 1 },
      lastError: 'frame: not an image',
    });
    expect(states).toEqual(['reconnecting', 'connected', 'stopped']);
  });

  it('reports over-long and control-character codes as unreadable, never as text', async () => {
    const s = scripted(['X'.repeat(5000), 'bad\u0001code'], 10);
    const scans = await run(new CameraScanner(s));
    expect(scans).toEqual([
      { input: 'qr', unreadable: 'code over 4096 bytes' },
      { input: 'qr', unreadable: 'control character in code' },
    ]);
  });

  it('retries a failing source with backoff and stops cleanly', async () => {
    let calls = 0;
    const failing: FrameSource = {
      // eslint-disable-next-line require-yield
      async *frames() {
        calls++;
        throw new Error('camera unplugged');
      },
      close: () => Promise.resolve(),
      health: () => ({}),
    };
    const scanner = new CameraScanner({ source: failing, decode: () => Promise.resolve([]), backoff: { initialMs: 5, maxMs: 10, jitter: 0 } });
    await scanner.start();
    await new Promise((r) => setTimeout(r, 80));
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(scanner.health()).toMatchObject({ state: 'reconnecting', lastError: 'source: camera unplugged' });
    await scanner.stop();
    expect(scanner.health().state).toBe('stopped');
  });

  it('end to end: noisy synthetic frames through sharp and ZXing in a worker thread', async () => {
    const A = `HC1:${'6BFOXN%TSMAHN-H'.repeat(12)}`;
    const B = `HP1:${'NCFOXN*TS0BI$ZD'.repeat(12)}`;
    const [a1, a2, empty, b1] = await Promise.all([
      syntheticFrame({ text: A, seed: 1 }),
      syntheticFrame({ text: A, seed: 2 }),
      syntheticFrame({ text: null, seed: 3 }),
      syntheticFrame({ text: B, seed: 4 }),
    ]);
    const source = new SimulatedFrameSource([a1!, a2!, empty!, a1!, b1!, a2!], { end: true });
    const scanner = new CameraScanner({ source, repeatGapMs: 60_000 });
    const scans = await run(scanner);
    await scanner.stop();
    expect(scans).toEqual([A, B, A].map((text) => ({ input: 'qr', text })));
    expect(scanner.health().counters).toMatchObject({ frames: 6, decodes: 5, scans: 3, repeats: 2, errors: 0 });
  });
});
