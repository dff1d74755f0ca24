/**
 * MQTT connections (mqtt.js 5): MQTT 5 with a fallback to 3.1.1 when the broker refuses v5, TLS
 * with client certificates, a will, an announcement on every (re)connect and a farewell on a clean
 * stop, and reconnection with a capped, jittered backoff. BrokerConnection is that much; GateConnection
 * adds the gate's `R/state` and its typed uplink; the reference backend's front reuses BrokerConnection.
 *
 * Nothing is published before CONNACK and nothing is queued in mqtt.js: each connection attempt gets
 * a fresh client (so its in-memory store starts empty and dies with the connection) and publish()
 * rejects while disconnected. The outbox in SQLite is the only source of truth for what must reach
 * the backend; mqtt.js's store does not survive a restart (mqttjs/MQTT.js#398).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { readFileSync } from 'node:fs';
import type { GateTopics } from './topics.js';
import { encodePayload, type ContractPayloads, type StatePayload, type UplinkKind } from './contract.js';
import type { Logger } from '../base/log.js';
import { Backoff } from '../base/backoff.js';
import { checkOptionalRange } from '../base/check.js';
import { PassgateError } from '../base/errors.js';

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
  /** Subscribed and announced; publishing is allowed from here until disconnected(). */
  connected(protocolVersion: 4 | 5): void;
  disconnected(reason: string): void;
  message(topic: string, payload: Buffer, props: MessageProps): void;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  /** MQTT 5 only; dropped silently on 3.1.1. */
  properties?: { responseTopic?: string; correlationData?: Buffer; messageExpiryInterval?: number };
}

/** A publish refused or failed because the link is down (LINK_DOWN). */
export class NotConnectedError extends PassgateError {
  constructor(what: string) {
    super('LINK_DOWN', `not connected: ${what} not published`);
  }
}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
}

/** A will: composed at each connection attempt, published by the broker if that connection dies. */
export interface Will {
  topic: string;
  payload: string;
}

export interface BrokerConnectionOptions {
  broker: BrokerOptions;
  clientId: string;
  /** Subscribed (QoS 1) after every CONNACK, before `ready`. */
  subscriptions: () => string[];
  /** Called at each connection attempt; its result is the will of that connection. */
  will?: () => Will;
  /** After subscribing, before the handler hears `connected` (the gate's retained `online`). */
  announce?: (publish: (topic: string, payload: string, options: PublishOptions) => Promise<void>) => Promise<void>;
  /** Published (retained, QoS 1) on a clean stop before DISCONNECT (the gate's `offline`). */
  farewell?: () => Will;
  /**
   * Keep the broker session across connections (`clean: false`, v5 session expiry): messages for this
   * client wait at the broker while it is away (the backend). Default: a clean session (the gate).
   */
  sessionExpirySeconds?: number;
  handler: ConnectionHandler;
  log: Logger;
}

/**
 * One MQTT connection with the fallback, backoff and publish rules above; the gate's GateConnection
 * and the reference backend's front are both built on it.
 */
export class BrokerConnection {
  private client: MqttClient | null = null;
  private ready = false;
  private stopped = true;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private version: 4 | 5;
  private v5ClosedBeforeConnack = 0;
  private pending = new Set<Pending>();
  private readonly opts: BrokerConnectionOptions;

  constructor(opts: BrokerConnectionOptions) {
    this.opts = opts;
    const b = opts.broker;
    checkOptionalRange('broker.keepaliveSeconds', b.keepaliveSeconds, 5, 600);
    checkOptionalRange('broker.connectTimeoutMs', b.connectTimeoutMs, 1000, 120_000);
    const minMs = checkOptionalRange('broker.reconnect.minMs', b.reconnect?.minMs, 10, 600_000) ?? 1000;
    const maxMs = checkOptionalRange('broker.reconnect.maxMs', b.reconnect?.maxMs, minMs, 3_600_000) ?? Math.max(30_000, minMs);
    this.backoff = new Backoff({ initialMs: minMs, maxMs, factor: 2, jitter: 0.2 }, Math.random, 'broker.reconnect.');
    this.version = b.protocol === 4 ? 4 : 5;
  }

  /** Whether publishing is possible right now (CONNACK received, subscribed, announced). */
  get connected(): boolean {
    return this.ready;
  }

  get protocolVersion(): 4 | 5 | null {
    return this.client ? this.version : null;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Clean stop: the farewell (if any) retained, then DISCONNECT (so the broker discards the will). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    const farewell = this.opts.farewell?.();
    if (this.ready && farewell) {
      try {
        await withTimeout(this.publish(farewell.topic, farewell.payload, { qos: 1, retain: true }), 3000);
      } catch (e) {
        this.opts.log.warn({ err: e }, 'could not publish the farewell state');
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

  private connect(): void {
    if (this.stopped) return;
    const { broker, log } = this.opts;
    let tls: Partial<IClientOptions> = {};
    try {
      tls = tlsOptions(broker.tls);
    } catch (e) {
      log.error({ err: e }, 'cannot read TLS files; will retry');
      this.scheduleReconnect();
      return;
    }
    const will = this.opts.will?.();
    const version = this.version;
    const expiry = this.opts.sessionExpirySeconds;
    const client = mqtt.connect(broker.url, {
      ...tls,
      protocolVersion: version,
      clientId: this.opts.clientId,
      clean: expiry === undefined,
      ...(expiry !== undefined && version === 5 ? { properties: { sessionExpiryInterval: expiry } } : {}),
      keepalive: broker.keepaliveSeconds ?? 30,
      connectTimeout: broker.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0, // reconnection is ours: fresh client, capped backoff, protocol fallback
      queueQoSZero: false,
      resubscribe: false,
      // mqtt-packet's default pre-builds a Buffer for every 16-bit number (65,536 objects, ~7 MB of
      // heap) to save one 2-byte allocation per packet: not worth a tenth of the memory budget.
      writeCache: false,
      ...(broker.username !== undefined ? { username: broker.username } : {}),
      ...(broker.password !== undefined ? { password: broker.password } : {}),
      ...(will ? { will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } } : {}),
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
      if (this.backoff.attempts === 0) log.warn({ err: err.message, code: err.code }, 'mqtt connection error');
      else log.debug({ err: err.message, code: err.code, attempt: this.backoff.attempts }, 'mqtt connection error');
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

  /** Subscribe, announce, then hand over to the handler. */
  private async onConnack(client: MqttClient): Promise<void> {
    const { log } = this.opts;
    if (this.backoff.attempts > 1) log.info({ attempts: this.backoff.attempts }, 'broker reachable again');
    this.backoff.reset();
    try {
      const granted = await client.subscribeAsync(this.opts.subscriptions(), { qos: 1 });
      for (const g of granted) if (g.qos > 1) log.error({ topic: g.topic, code: g.qos }, 'subscription refused by the broker');
      if (client !== this.client) return;
      await this.opts.announce?.((topic, payload, options) => this.send(client, topic, payload, options));
    } catch (e) {
      if (client === this.client) {
        log.warn({ err: (e as Error).message }, 'could not subscribe or announce; reconnecting');
        client.end(true);
      }
      return;
    }
    if (client !== this.client || this.stopped) return;
    this.ready = true;
    try {
      this.opts.handler.connected(this.version);
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
    const delay = this.backoff.next();
    this.opts.log.debug({ delayMs: delay, attempt: this.backoff.attempts }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }
}

export interface GateConnectionOptions {
  broker: BrokerOptions;
  topics: GateTopics;
  /** Raises and persists the session counter (GateStore.nextSession). */
  nextSession: () => number;
  softwareVersion: string;
  nowMs: () => number;
  handler: GateConnectionHandler;
  log: Logger;
}

export interface GateConnectionHandler {
  /** Subscribed and `online` published; publishing is allowed from here until disconnected(). */
  connected(info: ConnectedInfo): void;
  disconnected(reason: string): void;
  message(topic: string, payload: Buffer, props: MessageProps): void;
}

/**
 * The gate's side: a clean session, the `lost` will and the retained `online` / `offline` of
 * `R/state` with the session counter, the downlink subscriptions, and `send` — the typed publish of
 * every uplink kind (sync/contract.ts).
 */
export class GateConnection {
  private readonly conn: BrokerConnection;
  private currentSession = 0;

  constructor(private readonly opts: GateConnectionOptions) {
    const { topics } = opts;
    this.conn = new BrokerConnection({
      broker: opts.broker,
      clientId: opts.broker.clientId ?? `passgate-${topics.site}-${topics.gate}`,
      subscriptions: () => topics.downlink(),
      will: () => {
        // A will is composed here, at CONNECT: its tsMs is this connection's start (docs/mqtt-api.md).
        this.currentSession = opts.nextSession();
        return { topic: topics.state, payload: encodePayload('state', this.state('lost')) };
      },
      announce: (publish) => publish(topics.state, encodePayload('state', this.state('online')), { qos: 1, retain: true }),
      farewell: () => ({ topic: topics.state, payload: encodePayload('state', this.state('offline')) }),
      log: opts.log,
      handler: {
        connected: (protocolVersion) => {
          opts.log.info({ session: this.currentSession, protocolVersion }, 'connected');
          opts.handler.connected({ session: this.currentSession, protocolVersion });
        },
        disconnected: (reason) => opts.handler.disconnected(reason),
        message: (topic, payload, props) => opts.handler.message(topic, payload, props),
      },
    });
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  get session(): number {
    return this.currentSession;
  }

  get protocolVersion(): 4 | 5 | null {
    return this.conn.protocolVersion;
  }

  start(): void {
    this.conn.start();
  }

  /** Clean stop: `offline` retained, then DISCONNECT (so the broker discards the will). */
  stop(): Promise<void> {
    return this.conn.stop();
  }

  /** Publishes `payload` on this gate's `R/{kind}`, encoded by the contract. Rejects while disconnected. */
  send<K extends UplinkKind>(kind: K, payload: ContractPayloads[K], options: PublishOptions = {}): Promise<void> {
    return this.conn.publish(this.opts.topics.of(kind), encodePayload(kind, payload), options);
  }

  private state(state: StatePayload['state']): StatePayload {
    return { state, session: this.currentSession, tsMs: this.opts.nowMs(), version: this.opts.softwareVersion };
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

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new PassgateError('LINK_TIMEOUT', `timed out after ${ms} ms`)), ms);
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
