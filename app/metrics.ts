/**
 * Prometheus metrics (`"metrics": {"enabled": true, "host": "127.0.0.1", "port": 9464}` → GET /metrics),
 * off by default. Counters and histograms are fed by the event bus as things happen; gauges (outbox,
 * documents, clock, broker, parts) are read from the gate's status at scrape time, so a scrape never
 * costs a decision anything and nothing is computed when nobody scrapes.
 *
 * prom-client is imported only when metrics are enabled: a gate that does not export metrics does not
 * pay its memory.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventBus } from '../device/bus.js';
import type { GateLink } from '../sync/gate-link.js';

export interface MetricsConfig {
  enabled: boolean;
  host: string;
  port: number;
}

/** What status offers at scrape time (GateService.status() plus the link's). */
export interface MetricsStatus {
  clock: { trusted: boolean };
  trust: { version: number; ageSeconds: number | null } | null;
  policy: { version: number; ageSeconds: number | null };
  lists: Record<string, { version: number; ageSeconds: number | null; entries: number }>;
  outbox: { depth: number; oldestAgeSeconds: number | null };
  health?: { parts: Record<string, { ok: boolean }> };
}

export interface MetricsSources {
  bus: EventBus;
  status: () => MetricsStatus;
  /** Whether the broker link is up; absent when there is no link. */
  brokerConnected?: () => boolean;
}

export interface Metrics {
  url: string;
  /** The text a scrape returns (tests, `passgate doctor` in future). */
  render(): Promise<string>;
  close(): Promise<void>;
}

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const SCAN_TO_RELAY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2];

/** Starts the endpoint (when enabled) and subscribes to the bus; null when disabled. */
export async function startMetrics(config: MetricsConfig | undefined, sources: MetricsSources): Promise<Metrics | null> {
  if (!config?.enabled) return null;
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const owner = {};
  const { bus } = sources;
  const reg = { registers: [registry] };

  const decisions = new prom.Counter({ name: 'passgate_decisions_total', help: 'Decisions by result and reason', labelNames: ['result', 'reason'] as const, ...reg });
  const latency = new prom.Histogram({ name: 'passgate_decision_latency_seconds', help: 'Time to decide (verify, look up, policy), from the decision event', buckets: LATENCY_BUCKETS, ...reg });
  const scanToRelay = new prom.Histogram({ name: 'passgate_scan_to_relay_seconds', help: 'From a scan arriving to the relay pulse, for granted passes', buckets: SCAN_TO_RELAY_BUCKETS, ...reg });
  const reconnects = new prom.Counter({ name: 'passgate_broker_reconnects_total', help: 'Broker connections established after the first', ...reg });
  const driverErrors = new prom.Counter({ name: 'passgate_driver_errors_total', help: 'A part reported itself unhealthy', labelNames: ['part'] as const, ...reg });
  const refusedEnvelopes = new prom.Counter({ name: 'passgate_refused_envelopes_total', help: 'Signed envelopes from the backend refused, by reason code', labelNames: ['reason'] as const, ...reg });
  const refusedCommands = new prom.Counter({ name: 'passgate_refused_commands_total', help: 'Signed commands refused, by reason code', labelNames: ['reason'] as const, ...reg });
  const signIns = new prom.Counter({ name: 'passgate_console_sign_ins_total', help: 'Guard console sign-ins', ...reg });
  const signInFailures = new prom.Counter({ name: 'passgate_console_sign_in_failures_total', help: 'Guard console sign-ins refused', ...reg });

  let everConnected = false;
  bus.on('eventRecorded', owner, ({ event }) => {
    if (event.type !== 'decision') return;
    decisions.inc({ result: String(event.result), reason: String(event.reason) });
    if (typeof event.latencyUs === 'number') latency.observe(event.latencyUs / 1e6);
  });
  bus.on('relayPulsed', owner, ({ scanToRelayMs }) => scanToRelay.observe(scanToRelayMs / 1000));
  bus.on('linkChanged', owner, ({ connected }) => {
    if (connected && everConnected) reconnects.inc();
    if (connected) everConnected = true;
  });
  bus.on('healthChanged', owner, ({ part, ok }) => {
    if (!ok) driverErrors.inc({ part });
  });
  bus.on('messageRefused', owner, ({ kind, reason }) => (kind === 'command' ? refusedCommands : refusedEnvelopes).inc({ reason }));
  bus.on('guardSignIn', owner, ({ ok }) => (ok ? signIns : signInFailures).inc());

  // Scrape-time gauges: one status read per scrape, shared by every gauge of that scrape.
  let scraped: MetricsStatus | null = null;
  const status = () => (scraped ??= sources.status());
  const render = async () => {
    scraped = null;
    try {
      return await registry.metrics();
    } finally {
      scraped = null;
    }
  };
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: { set: (l: Record<string, string> | number, v?: number) => void }) => void) =>
    new prom.Gauge({
      name,
      help,
      labelNames,
      ...reg,
      collect() {
        this.reset();
        collect({ set: (l, v) => (typeof l === 'number' ? this.set(l) : this.set(l, v!)) });
      },
    });
  const docs = (s: MetricsStatus) => ({ trust: s.trust ?? { version: 0, ageSeconds: null }, policy: s.policy, ...s.lists });
  gauge('passgate_outbox_depth', 'Events waiting for the backend\'s ack', [], (g) => g.set(status().outbox.depth));
  gauge('passgate_outbox_oldest_event_age_seconds', 'Age of the oldest unacknowledged event (0 when empty)', [], (g) => g.set(status().outbox.oldestAgeSeconds ?? 0));
  gauge('passgate_document_version', 'Version held of the trust bundle, policy and lists', ['document'], (g) => {
    for (const [document, d] of Object.entries(docs(status()))) g.set({ document }, d.version);
  });
  gauge('passgate_document_age_seconds', 'Seconds since each document was last updated (absent: never)', ['document'], (g) => {
    for (const [document, d] of Object.entries(docs(status()))) if (d.ageSeconds !== null) g.set({ document }, d.ageSeconds);
  });
  gauge('passgate_clock_trusted', '1 while the gate trusts its clock (clock.trusted, time sync, RTC, floor)', [], (g) => g.set(status().clock.trusted ? 1 : 0));
  gauge('passgate_broker_connected', '1 while the MQTT link is up', [], (g) => g.set(sources.brokerConnected?.() ? 1 : 0));
  gauge('passgate_part_healthy', '1 per healthy part (relay, scanners, reader, link …)', ['part'], (g) => {
    for (const [part, p] of Object.entries(status().health?.parts ?? {})) g.set({ part }, p.ok ? 1 : 0);
  });

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    render().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`,
    render,
    close: () =>
      new Promise<void>((resolve) => {
        bus.removeListeners(owner);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Puts the link's connection changes and refusals on the bus (until the link emits them itself). */
export function linkToBus(link: GateLink, bus: EventBus): void {
  link.on('connected', () => bus.emit('linkChanged', { connected: true }));
  link.on('disconnected', (reason) => bus.emit('linkChanged', { connected: false, reason }));
  link.refusals.listeners.add((r) => bus.emit('messageRefused', { kind: /\/cmd$/.test(r.topic) ? 'command' : 'envelope', reason: r.code }));
}
