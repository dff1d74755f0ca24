import { describe, it, expect, afterEach } from 'vitest';
import { GateStore } from '../../../device/store/store.js';
import { removeTempDirs, tempDir as makeTempDir } from '../../helpers/temp.js';

afterEach(removeTempDirs);
const tempDir = () => makeTempDir('passgate-store-');

describe('outbox', () => {
  it('never hands out a seq twice, even after every event was acked and the store reopened', () => {
    const dir = tempDir();
    let store = GateStore.open(dir);
    const seqs = [1, 2, 3].map((i) => store.recordEvent({ type: 'system', i }, 1000 + i));
    expect(seqs).toEqual([1, 2, 3]);
    expect(store.ackUpTo(3)).toBe(3);
    expect(store.outboxStats()).toMatchObject({ depth: 0, lastSeq: 3 });
    store.close();
    store = GateStore.open(dir);
    expect(store.recordEvent({ type: 'system' }, 2000)).toBe(4);
    store.close();
  });

  it('returns pending events in seq order with their seq, and keeps unacked ones', () => {
    const store = GateStore.open(tempDir());
    for (let i = 0; i < 10; i++) store.recordEvent({ type: 'decision', n: i }, i);
    store.ackUpTo(4);
    const pending = store.pendingEvents(0, 3);
    expect(pending.map((r) => r.seq)).toEqual([5, 6, 7]);
    expect(pending[0]!.event).toMatchObject({ seq: 5, type: 'decision', n: 4 });
    expect(store.pendingEvents(7, 100).map((r) => r.seq)).toEqual([8, 9, 10]);
    expect(store.outboxStats()).toMatchObject({ depth: 6, oldestTsMs: 4, firstSeq: 5 });
    store.close();
  });

  it('records anti-passback memory only with the event that opened', () => {
    const store = GateStore.open(tempDir());
    const h = 'ab'.repeat(16);
    store.recordEvent({ type: 'decision' }, 100, null);
    expect(store.lastOpenedMs(h)).toBeUndefined();
    store.recordEvent({ type: 'decision' }, 200, h);
    expect(store.lastOpenedMs(h)).toBe(200);
    store.close();
  });

  it('two processes writing one data directory interleave without losing or reusing seqs', () => {
    const dir = tempDir();
    const a = GateStore.open(dir);
    const b = GateStore.open(dir);
    const seqs = [];
    for (let i = 0; i < 50; i++) seqs.push(a.recordEvent({ i }, i), b.recordEvent({ i }, i));
    expect(new Set(seqs).size).toBe(100);
    expect(Math.max(...seqs)).toBe(100);
    a.close();
    b.close();
  });
});

describe('initialisation and migrations', () => {
  it('refuses to initialise twice; a reopened store keeps identity and schema', () => {
    const dir = tempDir();
    const s = GateStore.open(dir);
    s.initialise({ site: 's', gate: 'g', roots: ['r'] });
    expect(() => s.initialise({ site: 's', gate: 'h', roots: ['r'] })).toThrow(/ALREADY_INITIALISED/);
    s.close();
    const again = GateStore.open(dir);
    expect(again.identity()).toEqual({ site: 's', gate: 'g', roots: ['r'] });
    again.close();
  });
});

describe('command counters', () => {
  it('accept only a counter above the last, per kid, across reopen', () => {
    const dir = tempDir();
    let s = GateStore.open(dir);
    expect(s.acceptCommandCounter('k1', 5)).toBe(true);
    expect(s.acceptCommandCounter('k1', 5)).toBe(false);
    expect(s.acceptCommandCounter('k2', 1)).toBe(true);
    s.close();
    s = GateStore.open(dir);
    expect(s.acceptCommandCounter('k1', 4)).toBe(false);
    expect(s.acceptCommandCounter('k1', 6)).toBe(true);
    s.close();
  });
});
