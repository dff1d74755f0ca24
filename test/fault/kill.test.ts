/**
 * SIGKILL under a stream of scans: the real service on a socat pty scanner and a fake sysfs GPIO
 * tree, killed at random moments and restarted on the same data directory. Every seq the service
 * reported is in the store exactly once with its own event, none is reused, and the relay is back
 * at its safe level after each restart. CI: 3 kills; `npm run soak`: FAULT_KILLS (default 100).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { GateStore } from '../../device/store/store.js';
import { isDecision, isReady, makeFaultGate, num, relayWatch, report, scannerCable, sleep, spawnService, type FaultGate } from './harness.js';

const KILLS = num('FAULT_KILLS', 3, 100);
let gate: FaultGate | undefined;
afterAll(async () => gate?.dispose());

describe('fault: SIGKILL under scans', () => {
  it(`keeps every seq exactly once and releases the relay after each of ${KILLS} kills`, { timeout: 60_000 + KILLS * 6_000 }, async () => {
    gate = await makeFaultGate();
    const g = gate;
    const scanner = scannerCable(g);
    const logged = new Map<number, string | null>();
    const reused: number[] = [];
    const restartMs: number[] = [];
    const watch = relayWatch(() => g.relayValue());
    let scans = 0;
    try {
      for (let k = 0; k <= KILLS; k++) {
        const started = performance.now();
        const svc = await spawnService(g.configFile);
        await svc.waitLog(isReady, `ready after kill ${k}`);
        // After every (re)start the relay is at its safe level before anything was scanned.
        expect(g.relayValue()).toBe('0');
        restartMs.push(performance.now() - started);
        if (k === KILLS) {
          svc.proc.kill('SIGTERM');
          expect((await svc.exited).code).toBe(0);
          collect(svc.logs);
          break;
        }
        const stream = setInterval(() => {
          if (scanner.write(g.code())) scans++;
        }, 60);
        await sleep(300 + Math.random() * 1200);
        svc.proc.kill('SIGKILL');
        await svc.exited;
        clearInterval(stream);
        watch.reset();
        collect(svc.logs);
      }
    } finally {
      scanner.close();
    }
    const maxRelayOnMs = watch.stop();

    function collect(logs: Record<string, unknown>[]) {
      for (const l of logs.filter(isDecision)) {
        const seq = l.seq as number | null;
        if (seq === null) continue;
        if (logged.has(seq) && logged.get(seq) !== l.handle) reused.push(seq);
        logged.set(seq, (l.handle as string | null) ?? null);
      }
    }

    const store = GateStore.open(g.dataDir, { readonly: true });
    const rows = store.pendingEvents(0, 1_000_000);
    store.close();
    const bySeq = new Map(rows.map((r) => [r.seq, r.event]));
    const lost = [...logged.keys()].filter((seq) => !bySeq.has(seq));
    const mismatched = [...logged].filter(([seq, handle]) => bySeq.has(seq) && (bySeq.get(seq)!.handle ?? null) !== handle);
    const ids = new Set(rows.map((r) => r.event.id));
    report('sigkill', { kills: KILLS, scansWritten: scans, decisionsLogged: logged.size, eventsStored: rows.length, lost: lost.length, reused: reused.length, maxRelayOnMs: Math.round(maxRelayOnMs), restartMsMax: Math.round(Math.max(...restartMs)), restartMsMedian: Math.round(restartMs.sort((a, b) => a - b)[restartMs.length >> 1]!) });

    expect(logged.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(reused).toEqual([]);
    expect(mismatched).toEqual([]);
    expect(ids.size).toBe(rows.length); // no event stored twice
    const seqs = rows.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
