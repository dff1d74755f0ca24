/**
 * The Prometheus endpoint: off by default; on, GET /metrics shows the decisions a gate made (by result
 * and reason, with latency and scan-to-relay), outbox, documents and clock from status, and what the
 * bus carries (broker link, refusals, sign-ins, driver errors).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { EventEmitter } from 'node:events';
import { EventBus } from '../../device/bus.js';
import { GateService, type ScanSource } from '../../device/service.js';
import { startMetrics, type Metrics } from '../../app/metrics.js';
import { makeGate, type TestGate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';
import type { Presented } from '../../device/core/types.js';

class FakeScanner extends EventEmitter implements ScanSource {
  readonly name = 'scanner0';
  scan(p: Presented): void {
    this.emit('scan', p, { driver: this.name, atMs: 0 });
  }
}
const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let gate: TestGate;
let service: GateService;
let metrics: Metrics | null;
afterEach(async () => {
  await metrics?.close();
  await service?.stop();
  gate?.close();
});

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('metrics', () => {
  it('are off unless enabled', async () => {
    expect(await startMetrics(undefined, { bus: new EventBus(), status: () => ({}) as never })).toBeNull();
    expect(await startMetrics({ enabled: false, host: '127.0.0.1', port: 0 }, { bus: new EventBus(), status: () => ({}) as never })).toBeNull();
  });

  it('the endpoint reflects decisions made', async () => {
    gate = makeGate({ policy: {} });
    gate.freshLists();
    const bus = new EventBus();
    const scanner = new FakeScanner();
    service = new GateService({ store: gate.store, clock: gate.clock, verifier: gate.verifier, inputs: [scanner], relay: { set: () => {} }, log: silent, bus, gate: { busy: 'queue', queueSize: 8 } });
    await service.start();
    metrics = await startMetrics({ enabled: true, host: '127.0.0.1', port: 0 }, { bus, status: () => service.status(), brokerConnected: () => true });
    const scrape = async () => (await fetch(metrics!.url)).text();

    const before = await scrape();
    expect(value(before, 'passgate_decisions_total{result="open",reason="OK"}')).toBeUndefined();
    expect(value(before, 'passgate_outbox_depth')).toBe(0);

    scanner.scan({ input: 'qr', text: gate.code('CN-330000').text });
    scanner.scan({ input: 'qr', text: gate.code('CN-330000', { status: 3 }).text });
    scanner.scan({ input: 'qr', text: 'HP1:garbage' });
    await waitFor(() => gate.store.outboxStats().depth >= 3, { what: 'three decisions recorded' });

    const text = await scrape();
    expect(value(text, 'passgate_decisions_total{result="open",reason="OK"}')).toBe(1);
    expect(value(text, 'passgate_decisions_total{result="deny",reason="STATUS_RED"}')).toBe(1);
    expect(text).toMatch(/passgate_decisions_total\{result="(deny|error)",reason="BAD_ENCODING"\} 1/);
    expect(value(text, 'passgate_decision_latency_seconds_count')).toBe(3);
    expect(value(text, 'passgate_scan_to_relay_seconds_count')).toBe(1);
    expect(value(text, 'passgate_outbox_depth')).toBe(gate.store.outboxStats().depth);
    expect(value(text, 'passgate_document_version{document="trust"}')).toBe(1);
    expect(value(text, 'passgate_document_version{document="tokens"}')).toBe(1);
    expect(value(text, 'passgate_clock_trusted')).toBe(1);
    expect(value(text, 'passgate_broker_connected')).toBe(1);

    bus.emit('linkChanged', { connected: true });
    bus.emit('linkChanged', { connected: false, reason: 'test' });
    bus.emit('linkChanged', { connected: true });
    bus.emit('messageRefused', { kind: 'command', reason: 'REPLAYED' });
    bus.emit('messageRefused', { kind: 'envelope', reason: 'BAD_SIGNATURE' });
    bus.emit('guardSignIn', { ok: false });
    bus.emit('healthChanged', { part: 'scanner0', ok: false });
    const later = await scrape();
    expect(value(later, 'passgate_broker_reconnects_total')).toBe(1);
    expect(value(later, 'passgate_refused_commands_total{reason="REPLAYED"}')).toBe(1);
    expect(value(later, 'passgate_refused_envelopes_total{reason="BAD_SIGNATURE"}')).toBe(1);
    expect(value(later, 'passgate_console_sign_in_failures_total')).toBe(1);
    expect(value(later, 'passgate_driver_errors_total{part="scanner0"}')).toBe(1);
    expect((await fetch(metrics!.url.replace('/metrics', '/'))).status).toBe(404);
  });
});
