/** The GateStore methods the sync layer added: session counter, settings, look-up cache, bounded retention. */
import { afterAll, describe, expect, it } from 'vitest';
import { GateStore } from '../../device/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/sync.js';

afterAll(() => removeTempDirs());

describe('GateStore sync support', () => {
  it('raises the session counter across reopen (a restart)', () => {
    const dir = tempDir();
    let s = GateStore.open(dir);
    expect([s.nextSession(), s.nextSession()]).toEqual([1, 2]);
    s.close();
    s = GateStore.open(dir);
    expect(s.nextSession()).toBe(3);
    s.saveSetting('mode-override', { mode: 'staff' });
    s.close();
    s = GateStore.open(dir);
    expect(s.setting('mode-override')).toEqual({ mode: 'staff' });
    expect(s.setting('never-saved')).toBeUndefined();
    s.close();
  });

  it('caches a look-up answer without moving the list version, never over a later status', () => {
    const s = GateStore.open(tempDir());
    const h = 'ab'.repeat(16);
    expect(s.cacheHolder(h, 1, 1000, 5000)).toBe(true);
    expect(s.entry('holders', h)).toEqual({ s: 1, at: 1000, until: 5000 });
    expect(s.cacheHolder(h, 3, 900, 6000)).toBe(false); // determined earlier: the held entry stands
    expect(s.entry('holders', h)).toEqual({ s: 1, at: 1000, until: 5000 });
    expect(s.cacheHolder(h, 0, 1100, 6000)).toBe(true);
    expect(s.entry('holders', h)?.s).toBe(0);
    expect(s.meta('holders')).toEqual({ version: 0, updatedAtMs: null });
    s.close();
  });

  it('trims the outbox to maxRows including a system event naming the dropped range', () => {
    const s = GateStore.open(tempDir());
    for (let i = 0; i < 10; i++) s.recordEvent({ type: 'decision', i }, 1000 + i);
    expect(s.trimOutbox(10, () => ({ type: 'system' }), 2000)).toBeNull();
    const r = s.trimOutbox(5, (d) => ({ type: 'system', what: 'events_dropped', dropped: d }), 2000);
    expect(r).toEqual({ from: 1, to: 6, count: 6, seq: 11 });
    expect(s.outboxStats().depth).toBe(5);
    expect(s.outboxBounds()).toEqual({ firstSeq: 7, lastSeq: 11, oldestTsMs: 1006 });
    expect(s.pendingEvents(10, 5)[0]?.event).toEqual({ seq: 11, type: 'system', what: 'events_dropped', dropped: { from: 1, to: 6, count: 6 } });
    // Everything acked: the numbering still goes on (AUTOINCREMENT), the bounds say so.
    s.ackUpTo(11);
    expect(s.outboxBounds()).toEqual({ firstSeq: null, lastSeq: 11, oldestTsMs: null });
    expect(s.recordEvent({ type: 'decision' }, 3000)).toBe(12);
    s.close();
  });
});
