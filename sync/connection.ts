/**
 * The gate's MQTT connection (mqtt.js 5): MQTT 5 with a fallback to 3.1.1 when the broker refuses
 * v5, TLS with client certificates, the `lost` will, the retained `online` on every (re)connect and
 * `offline` on a clean stop, and reconnection with a capped, jittered backoff.
 *
 * Nothing is published before CONNACK and nothing is queued in mqtt.js: each connection attempt gets
 * a fresh client (so its in-memory store starts empty and dies with the connection) and publish()
 * rejects while disconnected. The outbox in SQLite is the only source of truth for what must reach
 * the backend; mqtt.js's store does not survive a restart (mqttjs/MQTT.js#398).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { readFileSync } from 'node:fs';
import { encode, type GateTopics, type StatePayload } from './topics.js';
import type { Logger } from './log.js';

export interface TlsOptions {
  /** PEM file of the CA that signed the broker's certificate. */
  ca?: string;
  /** PEM files of this gate's client certificate and key (mTLS). */
  cert?: string;
  key?: string;
  /** Default true. Only a lab would turn it off. */
  rejectUnauthorized?: boolean;
  /** SNI and the name checked in the broker's certificate, when it differs from the URL's host. */
  servername?: string;
}

export interface BrokerOptions {
  /** `mqtt://host:1883`, `mqtts://host:8883` (TLS), `ws://…`, `wss://…`. */
  url: string;
  tls?: TlsOptions;
  username?: string;
  password?: string;
  /** `auto` (default): MQTT 5, falling back to 3.1.1 when the broker refuses v5. */
  protocol?: 'auto' | 5 | 4;
  /** [5…600], default 30 s. The broker declares the gate `lost` after 1.5× this without traffic. */
  keepaliveSeconds?: number;
  /** Time allowed for CONNACK, [1000…120000], default 10000 ms. */
  connectTimeoutMs?: number;
  /** Reconnect backoff: doubles from `minMs` up to `maxMs`, ±20 % jitter. Defaults 1000 / 30000 ms. */
  reconnect?: { minMs?: number; maxMs?: number };
  /** MQTT client id; default `passgate-{site}-{gate}`. */
  clientId?: string;
}

export interface ConnectedInfo {
  session: number;
  protocolVersion: 4 | 5;
}

/** MQTT 5 properties a receiver may need (request/response); absent on 3.1.1. */
export interface MessageProps {
  responseTopic?: string;
  correlationData?: Buffer;
  retain: boolean;
}

export interface ConnectionHandler {
  /** Subscribed and `online` published; publishing is allowed from here until disconnected(). */
  connected(info: ConnectedInfo): void;
  disconnected(reason: string): void;
  message(topic: string, payload: Buffer, props: MessageProps): void;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  /** MQTT 5 only; dropped silently on 3.1.1. */
  properties?: { responseTopic?: string; correlationData?: Buffer; messageExpiryInterval?: number };
}

export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';
  constructor(what: string) {
    super(`not connected: ${what} not published`);
  }
}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
}

export interface GateConnectionOptions {
  broker: BrokerOptions;
  topics: GateTopics;
  /** Raises and persists the session counter (GateStore.nextSession). */
  nextSession: () => number;
  softwareVersion: string;
  nowMs: () => number;
  handler: ConnectionHandler;
  log: Logger;
}

export class GateConnection {
  private client: MqttClient | null = null;
  private ready = false;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private version: 4 | 5;
  private v5ClosedBeforeConnack = 0;
  private currentSession = 0;
  private pending = new Set<Pending>();
  private readonly opts: GateConnectionOptions;

  constructor(opts: GateConnectionOptions) {
    this.opts = opts;
    const b = opts.broker;
    checkRange('keepaliveSeconds', b.keepaliveSeconds, 5, 600);
    checkRange('connectTimeoutMs', b.connectTimeoutMs, 1000, 120_000);
    checkRange('reconnect.minMs', b.reconnect?.minMs, 10, 600_000);
    checkRange('reconnect.maxMs', b.reconnect?.maxMs, b.reconnect?.minMs ?? 10, 3_600_000);
    this.version = b.protocol === 4 ? 4 : 5;
  }

  /** Whether publishing is possible right now (CONNACK received, subscribed, `online` sent). */
  get connected(): boolean {
    return this.ready;
  }

  get session(): number {
    return this.currentSession;
  }

  get protocolVersion(): 4 | 5 | null {
    return this.client ? this.version : null;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Clean stop: `offline` retained, then DISCONNECT (so the broker discards the will). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    if (this.ready) {
      try {
        await withTimeout(this.publish(this.opts.topics.state, encode(this.state('offline')), { qos: 1, retain: true }), 3000);
      } catch (e) {
        this.opts.log.warn({ err: e }, 'could not publish offline state');
      }
    }
    this.drop('stopped');
    if (!client.connected) {
      client.end(true); // no session at the broker, so no will to discard
      return;
    }
    // DISCONNECT (the broker then discards the will); force the socket shut if that hangs, e.g. on a
    // half-dead connection where mqtt.js would wait for PUBACKs that never come.
    const graceful = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    await withTimeout(graceful, 3000).catch(() => {
      // end() is already under way and would ignore a second, forced one: cut the transport itself.
      (client.stream as { destroy?: () => void } | undefined)?.destroy?.();
    });
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    const client = this.client;
    if (!client || !this.ready) return Promise.reject(new NotConnectedError(topic));
    return this.send(client, topic, payload, options);
  }

  private send(client: MqttClient, topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { resolve, reject };
      this.pending.add(entry);
      const props = this.version === 5 && options.properties ? { properties: options.properties } : {};
      client.publish(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false, ...props }, (err) => {
        if (!this.pending.delete(entry)) return; // already failed by a disconnect
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private state(state: StatePayload['state']): StatePayload {
    return { state, session: this.currentSession, tsMs: this.opts.nowMs(), version: this.opts.softwareVersion };
  }

  private connect(): void {
    if (this.stopped) return;
    const { broker, topics, log } = this.opts;
    let tls: Partial<IClientOptions> = {};
    try {
      tls = tlsOptions(broker.tls);
    } catch (e) {
      log.error({ err: e }, 'cannot read TLS files; will retry');
      this.scheduleReconnect();
      return;
    }
    this.currentSession = this.opts.nextSession();
    const version = this.version;
    const client = mqtt.connect(broker.url, {
      ...tls,
      protocolVersion: version,
      clientId: broker.clientId ?? `passgate-${topics.site}-${topics.gate}`,
      clean: true,
      keepalive: broker.keepaliveSeconds ?? 30,
      connectTimeout: broker.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0, // reconnection is ours: fresh client, capped backoff, protocol fallback
      queueQoSZero: false,
      resubscribe: false,
      ...(broker.username !== undefined ? { username: broker.username } : {}),
      ...(broker.password !== undefined ? { password: broker.password } : {}),
      will: { topic: topics.state, payload: Buffer.from(encode(this.state('lost'))), qos: 1, retain: true },
    });
    this.client = client;
    let connacked = false;
    let refusedVersion = false;
    // Whether the transport came up: only a close after that may mean "this broker dislikes v5".
    let socketUp = false;
    let otherError = false;
    const stream = client.stream as { once?: (ev: string, fn: () => void) => void; setNoDelay?: (on: boolean) => void } | undefined;
    // No Nagle: an event (a small PUBLISH) must not wait for the ack of the previous write (up to
    // the peer's 40 ms delayed ACK) on its way to the broker.
    stream?.setNoDelay?.(true);
    stream?.once?.('connect', () => (socketUp = true));
    stream?.once?.('secureConnect', () => (socketUp = true));

    client.on('connect', () => {
      connacked = true;
      this.v5ClosedBeforeConnack = 0;
      void this.onConnack(client);
    });
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      if (client !== this.client) return;
      const p = packet.properties;
      const props: MessageProps = { retain: packet.retain };
      if (p?.responseTopic) props.responseTopic = p.responseTopic;
      if (p?.correlationData) props.correlationData = p.correlationData;
      this.opts.handler.message(topic, payload, props);
    });
    client.on('error', (err: Error & { code?: number }) => {
      // CONNACK 0x01 (3.1.1 "unacceptable protocol version") or 0x84 (v5 "unsupported protocol version").
      if (version === 5 && (this.opts.broker.protocol ?? 'auto') === 'auto' && (err.code === 1 || err.code === 0x84)) {
        refusedVersion = true;
        return;
      }
      otherError = true;
      // The first failure of a series is worth a warning; an unreachable broker retried every few
      // seconds is not worth one per attempt.
      if (this.attempt === 0) log.warn({ err: err.message, code: err.code }, 'mqtt connection error');
      else log.debug({ err: err.message, code: err.code, attempt: this.attempt }, 'mqtt connection error');
    });
    client.on('close', () => {
      if (client !== this.client) return;
      if (!connacked && version === 5 && (this.opts.broker.protocol ?? 'auto') === 'auto') {
        // A 3.1.1-only broker may just close the socket on a v5 CONNECT: after two such silent
        // closes in a row (transport up, no error such as a TLS alert or a reset) try 3.1.1.
        if (refusedVersion || (socketUp && !otherError && ++this.v5ClosedBeforeConnack >= 2)) {
          log.warn({ url: broker.url }, 'broker refused MQTT 5; falling back to MQTT 3.1.1');
          this.version = 4;
          this.drop('protocol fallback');
          this.connect();
          return;
        }
      }
      this.drop(connacked ? 'connection lost' : 'connection failed');
      this.scheduleReconnect();
    });
  }

  /** Subscribe, announce `online`, then hand over to the handler. */
  private async onConnack(client: MqttClient): Promise<void> {
    const { topics, log } = this.opts;
    if (this.attempt > 1) log.info({ attempts: this.attempt }, 'broker reachable again');
    this.attempt = 0;
    try {
      const granted = await client.subscribeAsync(topics.downlink(), { qos: 1 });
      for (const g of granted) if (g.qos > 1) log.error({ topic: g.topic, code: g.qos }, 'subscription refused by the broker');
      if (client !== this.client) return;
      await this.send(client, topics.state, encode(this.state('online')), { qos: 1, retain: true });
    } catch (e) {
      if (client === this.client) {
        log.warn({ err: (e as Error).message }, 'could not subscribe or announce online; reconnecting');
        client.end(true);
      }
      return;
    }
    if (client !== this.client || this.stopped) return;
    this.ready = true;
    log.info({ session: this.currentSession, protocolVersion: this.version }, 'connected');
    try {
      this.opts.handler.connected({ session: this.currentSession, protocolVersion: this.version });
    } catch (e) {
      log.error({ err: e }, 'connected handler failed');
    }
  }

  /** Forgets the current client: fails every publish in flight and tells the handler once. */
  private drop(reason: string): void {
    const wasReady = this.ready;
    this.ready = false;
    const client = this.client;
    this.client = null;
    for (const p of this.pending) p.reject(new NotConnectedError(reason));
    this.pending.clear();
    if (client && reason !== 'stopped') client.end(true);
    if (wasReady) {
      if (reason === 'stopped') this.opts.log.info({ reason }, 'disconnected');
      else this.opts.log.warn({ reason }, 'disconnected');
      try {
        this.opts.handler.disconnected(reason);
      } catch (e) {
        this.opts.log.error({ err: e }, 'disconnected handler failed');
      }
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const min = this.opts.broker.reconnect?.minMs ?? 1000;
    const max = this.opts.broker.reconnect?.maxMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(this.attempt, 30));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.opts.log.debug({ delayMs: delay, attempt: this.attempt }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }
}

function tlsOptions(tls: TlsOptions | undefined): Partial<IClientOptions> {
  if (!tls) return {};
  const o: Partial<IClientOptions> = { rejectUnauthorized: tls.rejectUnauthorized ?? true };
  if (tls.ca) o.ca = readFileSync(tls.ca);
  if (tls.cert) o.cert = readFileSync(tls.cert);
  if (tls.key) o.key = readFileSync(tls.key);
  if (tls.servername) o.servername = tls.servername;
  return o;
}

function checkRange(name: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (!Number.isFinite(v) || v < min || v > max)) {
    throw new RangeError(`broker.${name} must be between ${min} and ${max}, got ${v}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
