/**
 * 2,000 hostile connections (idle, and slow half-sent HTTP requests) held open against the guard
 * console on loopback while codes are scanned: every scan is still decided and recorded, and the
 * relay pulses and releases on time. The client side is bounded (FAULT_HOSTILE sockets, a fixed
 * run time) and only ever connects to 127.0.0.1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { freePort } from '../helpers/mosquitto.js';
import { isDecision, isReady, makeFaultGate, num, relayWatch, report, sleep, scannerCable, spawnService, type FaultGate } from './harness.js';

const SOCKETS = num('FAULT_HOSTILE', 2000, 2000);
const SCANS = num('FAULT_HOSTILE_SCANS', 5, 30);
let gate: FaultGate | undefined;
const sockets: Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await gate?.dispose();
});

describe('fault: hostile connections to the guard console', () => {
  it(`decisions and relay timing hold with ${SOCKETS} idle and slow connections open`, { timeout: 120_000 }, async () => {
    const port = await freePort();
    gate = await makeFaultGate({ consolePort: port });
    const g = gate;
    const svc = await spawnService(g.configFile);
    await svc.waitLog(isReady, 'ready');
    let refused = 0;
    await Promise.all(
      Array.from({ length: SOCKETS }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port });
          sockets.push(s);
          s.setTimeout(30_000);
          s.on('error', () => {
            refused++;
            resolve();
          });
          s.on('connect', () => {
            // Half the sockets idle, half send a request line and one header byte at a time, never finishing.
            if (i % 2) s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
            resolve();
          });
        }),
      ),
    );
    const watch = relayWatch(() => g.relayValue());
    const scanner = scannerCable(g);
    const started = performance.now();
    try {
      for (let i = 0; i < SCANS; i++) {
        scanner.write(g.code());
        await svc.waitLog((l) => isDecision(l) && svc.logs.filter(isDecision).length >= i + 1, `decision ${i + 1}`, 15_000);
        for (const s of sockets) if (!s.destroyed && s.writable) s.write('a');
        await sleep(1200); // one pass at a time: passageTimeoutMs is 1000
      }
    } finally {
      scanner.close();
    }
    const maxRelayOnMs = watch.stop();
    const decisions = svc.logs.filter(isDecision);
    const alive = sockets.filter((s) => !s.destroyed).length;
    report('hostile-console', { sockets: SOCKETS, closedWithErrorByConsole: refused, stillOpenAtEnd: alive, scans: SCANS, decided: decisions.length, opened: decisions.filter((d) => d.result === 'open').length, maxRelayOnMs: Math.round(maxRelayOnMs), wallMs: Math.round(performance.now() - started) });
    expect(decisions).toHaveLength(SCANS);
    expect(decisions.every((d) => d.result === 'open' && typeof d.seq === 'number')).toBe(true);
    expect(g.relayValue()).toBe('0');
    svc.proc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});
