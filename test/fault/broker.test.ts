/**
 * A broker outage under a stream of scans: the real service, a real mosquitto and the reference
 * backend. The broker goes away for FAULT_OUTAGE_MS (a few seconds in CI; 10 minutes under
 * `npm run soak`) while codes keep coming; when it returns, every event the gate recorded reaches the
 * backend exactly once. Nothing lost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { makeBackend, removeTempDirs } from '../helpers/sync.js';
import { waitFor } from '../helpers/wait.js';
import type { ReferenceBackend } from '../../scripts/backend/reference-backend.js';
import { GateStore } from '../../device/store/store.js';
import { isDecision, isReady, makeFaultGate, num, report, sleep, scannerCable, spawnService, type FaultGate } from './harness.js';

const OUTAGE_MS = num('FAULT_OUTAGE_MS', 3000, 600_000);
let broker: Mosquitto | undefined;
let backend: ReferenceBackend | undefined;
let gate: FaultGate | undefined;
afterAll(async () => {
  await backend?.stop();
  await broker?.dispose();
  await gate?.dispose();
  removeTempDirs();
});

describe('fault: broker outage under scans', () => {
  it(`loses nothing across a ${OUTAGE_MS} ms broker outage`, { timeout: 120_000 + OUTAGE_MS * 1.2 }, async () => {
    broker = await startMosquitto({ extraConfig: ['max_queued_messages 0'] });
    gate = await makeFaultGate({ mqttUrl: broker.url, site: 'fault', gate: 'out1' });
    const g = gate;
    backend = makeBackend({ brokerUrl: broker.url, federation: g.fed, site: 'fault' });
    await backend.start();
    const svc = await spawnService(g.configFile);
    await svc.waitLog(isReady, 'ready');
    const scanner = scannerCable(g);
    let scans = 0;
    const stream = setInterval(() => {
      scanner.write(g.code());
      scans++;
    }, 250);
    try {
      await sleep(1500);
      await broker.stop();
      const outageStarted = Date.now();
      await sleep(OUTAGE_MS);
      await broker.start();
      const outageMs = Date.now() - outageStarted;
      await sleep(1500);
      clearInterval(stream);
      const decided = svc.logs.filter(isDecision);
      const seqs = decided.map((d) => d.seq as number);
      const back = Date.now();
      // Everything the gate recorded (decisions, passages, alarms …) reaches the backend.
      await waitFor(() => backend!.cursor('out1').upTo >= Math.max(...seqs), { what: 'the backend to store every event', timeoutMs: 60_000 });
      const drainMs = Date.now() - back;
      const stored = backend.storedSeqs('out1');
      const missing = seqs.filter((s) => !stored.includes(s));
      report('broker-outage', { outageMs, scans, decisions: seqs.length, storedAtBackend: stored.length, missing: missing.length, duplicates: backend.cursor('out1').duplicates, conflicts: backend.cursor('out1').conflicts, drainAfterReturnMs: drainMs });
      expect(missing).toEqual([]);
      expect(stored).toEqual([...new Set(stored)].sort((a, b) => a - b));
      expect(backend.cursor('out1').conflicts).toBe(0);
    } finally {
      clearInterval(stream);
      scanner.close();
    }
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const store = GateStore.open(g.dataDir, { readonly: true });
    const left = store.outboxStats();
    store.close();
    expect(left.lastSeq).toBeGreaterThan(0);
  });
});
