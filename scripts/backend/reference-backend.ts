/**
 * The reference backend: the other end of docs/mqtt-api.md, small enough to read, complete enough to
 * drive gates in the demo, the tests and the benchmarks. This file is its front — the connection
 * (the gate's own BrokerConnection: MQTT 5 with the 3.1.1 fallback, backoff, TLS) and the routing of
 * each topic kind through the contract's parsers and encoder — over four parts that each do one job:
 *
 *   store.ts         the SQLite file: schema, retained documents, command counter, holders
 *   list-history.ts  lists, their delta history, and what a gate holding version N needs
 *   event-intake.ts  events de-duplicated on (gate, seq), the contiguous ack, signed for the gate
 *   commands.ts      signed commands with a rising counter, replies matched by jti
 *
 * It publishes the trust bundle and policy (retained) and list deltas, republishing what is retained
 * on every (re)connect (a broker without persistence forgets it on restart); answers `R/sync/req`,
 * `R/lookup/req`; stores events and acks them; sends commands and collects their replies.
 *
 * Gate code never imports this.
 */
import type { Federation } from '../lib/federation.js';
import type { WireEntry } from '../../device/core/lists.js';
import type { CommandName } from '../../device/core/signed-command.js';
import type { ListName, Policy } from '../../device/core/types.js';
import { LIST_NAMES } from '../../device/core/types.js';
import { signEnvelope } from '../lib/issuer.js';
import { SiteTopics, parseTopic } from '../../sync/topics.js';
import {
  encodePayload,
  parsePayload,
  type CommandResult,
  type ContractPayloads,
  type GateDownlinkKind,
  type LookupRequest,
  type StatePayload,
  type StatusPayload,
  type SyncRequest,
} from '../../sync/contract.js';
import { BrokerConnection, type BrokerOptions, type MessageProps, type PublishOptions } from '../../sync/connection.js';
import { SILENT, type Logger } from '../../base/log.js';
import { BackendStore, type HolderStatus } from './store.js';
import { ListHistory, type ListChange } from './list-history.js';
import { EventIntake, type Cursor, type StoredEvent } from './event-intake.js';
import { CommandDesk, type SignCommandOptions, type SignedCommand } from './commands.js';

export type { SignCommandOptions, SignedCommand, StoredEvent };

export interface ReferenceBackendOptions {
  brokerUrl: string;
  federation: Federation;
  site: string;
  /** SQLite file for events, lists and counters (created if missing); ':memory:' for throw-away runs. */
  dbPath: string;
  log?: Logger;
  /** TLS files, credentials, keepalive (the gate's BrokerOptions). */
  broker?: Omit<BrokerOptions, 'url'>;
  /** 5 or 4; default: 5, falling back to 4 when the broker refuses v5. */
  protocolVersion?: 4 | 5;
  /** Entries per snapshot chunk, default 10000 (each chunk is one transaction on the gate). */
  snapshotChunkSize?: number;
  /** Deltas kept per list for catch-up, default 1000; older gates get a snapshot. */
  historyLimit?: number;
  /** Wall clock, ms (tests pin it). */
  nowMs?: () => number;
  /** First reconnect delay (doubling up to 5 s), default 1000 ms. */
  reconnectPeriodMs?: number;
  /**
   * A list with no change for this long gets an empty delta (`to = from + 1`), so gates keep it
   * fresh (docs/protocol-extensions.md: freshness is the last delta applied). Default 3600 s;
   * null: never (tests). Keep it well below the policy's listMaxAgeSeconds.
   */
  listHeartbeatSeconds?: number | null;
  /** Default `passgate-backend-{site}`; a second process on the same site needs its own. */
  clientId?: string;
  /**
   * true (default): serve the site (events, sync, look-ups, republish retained). false: only send
   * (documents, deltas, commands) and collect command replies — for a CLI run next to a serving one.
   */
  serve?: boolean;
}

export class ReferenceBackend {
  readonly topics: SiteTopics;
  readonly stats = { refused: 0, syncRequests: 0, deltasSent: 0, snapshotsSent: 0, lookups: 0, commandsSent: 0, acksSent: 0 };
  /** Tests: hold look-up answers back this long (ms), or drop them (`'never'`). */
  lookupDelay: number | 'never' = 0;

  private readonly store: BackendStore;
  private readonly lists: ListHistory;
  private readonly events: EventIntake;
  private readonly commands: CommandDesk;
  private readonly conn: BrokerConnection;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly gateStates = new Map<string, StatePayload>();
  private readonly gateStatuses = new Map<string, StatusPayload>();
  private readonly snapshotsInProgress = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** Per gate: an ack on its way, and the highest one to send after it. */
  private readonly ackFlights = new Map<string, { next: number | null }>();
  private firstConnection: (() => void) | null = null;

  constructor(private readonly opts: ReferenceBackendOptions) {
    this.topics = new SiteTopics(opts.site);
    this.log = opts.log ?? SILENT;
    this.nowMs = opts.nowMs ?? Date.now;
    const fed = opts.federation;
    this.store = new BackendStore(opts.dbPath);
    this.lists = new ListHistory(this.store, fed.listSigner, this.nowMs, {
      historyLimit: opts.historyLimit ?? 1000,
      chunkSize: opts.snapshotChunkSize ?? 10_000,
    });
    this.events = new EventIntake(this.store, opts.site, fed.listSigner, this.nowMs, this.log);
    this.commands = new CommandDesk(this.store, opts.site, fed.commandSigner, this.nowMs);
    const period = opts.reconnectPeriodMs ?? 1000;
    this.conn = new BrokerConnection({
      broker: {
        ...opts.broker,
        url: opts.brokerUrl,
        protocol: opts.protocolVersion ?? 'auto',
        reconnect: { minMs: period, maxMs: Math.max(period, 5000) },
      },
      clientId: opts.clientId ?? `passgate-backend-${opts.site}`,
      subscriptions: () => this.subscriptions(),
      // A persistent session: gate events published while this backend restarts wait at the broker.
      ...(this.serving ? { sessionExpirySeconds: 86_400 } : {}),
      log: this.log,
      handler: {
        connected: (protocolVersion) => {
          this.log.info({ protocolVersion }, 'backend connected');
          this.firstConnection?.();
          if (this.serving) void this.republishRetained().catch((e: Error) => this.log.warn({ err: e.message }, 'republishing retained messages failed'));
        },
        disconnected: (reason) => this.log.debug({ reason }, 'backend disconnected'),
        message: (topic, payload, props) => this.onMessage(topic, payload, props),
      },
    });
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  /** Connects, subscribes, republishes what is retained; resolves on the first connection. */
  async start(): Promise<void> {
    const beat = this.opts.listHeartbeatSeconds === undefined ? 3600 : this.opts.listHeartbeatSeconds;
    if (beat !== null && this.serving) {
      for (const l of LIST_NAMES) this.lists.quietForMs(l); // a fresh backend counts from its start
      this.heartbeat = setInterval(() => void this.listHeartbeat(beat * 1000), Math.min(60_000, beat * 1000));
      this.heartbeat.unref?.();
    }
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`backend: no connection to ${this.opts.brokerUrl} within 15 s`)), 15_000);
      this.firstConnection = () => {
        this.firstConnection = null;
        clearTimeout(t);
        resolve();
      };
      this.conn.start();
    });
  }

  /** Disconnects (if connected) and closes the database. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.commands.close();
    await this.conn.stop();
    this.store.close();
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  private get serving(): boolean {
    return this.opts.serve ?? true;
  }

  private subscriptions(): string[] {
    const t = this.topics;
    if (!this.serving) return [t.everyGate('cmd/res')];
    return (['events', 'sync/req', 'lookup/req', 'cmd/res', 'state', 'status'] as const).map((k) => t.everyGate(k));
  }

  private async republishRetained(): Promise<void> {
    const trust = this.store.meta('trust');
    const policy = this.store.meta('policy');
    if (trust) await this.sendSite('trust', trust);
    if (policy) await this.sendSite('policy', policy);
    for (const a of this.events.acks()) await this.sendAck(a.gate, a.upTo);
  }

  /** Empty deltas for lists that have not changed for `afterMs`. */
  private async listHeartbeat(afterMs: number): Promise<void> {
    if (!this.connected) return;
    for (const l of LIST_NAMES) {
      if (this.lists.quietForMs(l) < afterMs) continue;
      try {
        const d = await this.publishDelta(l, {});
        this.log.debug({ list: l, to: d.to }, 'list heartbeat (empty delta)');
      } catch (e) {
        this.log.warn({ list: l, err: (e as Error).message }, 'list heartbeat failed');
      }
    }
  }

  // --- publishing: every payload through the contract -------------------------------------------------

  /** A site-wide topic (`S/trust`, `S/policy`: retained; `S/lists/{list}`). */
  private sendSite(kind: 'trust' | 'policy', payload: ContractPayloads['trust']): Promise<void>;
  private sendSite(kind: 'list', payload: ContractPayloads['list'], list: ListName): Promise<void>;
  private sendSite(kind: 'trust' | 'policy' | 'list', payload: string, list?: ListName): Promise<void> {
    const topic = kind === 'list' ? this.topics.list(list!) : this.topics[kind];
    return this.conn.publish(topic, encodePayload(kind, payload), { qos: 1, retain: kind !== 'list' });
  }

  /** One gate's downlink topic (`R/events/ack` retained, the rest not). */
  private sendTo<K extends GateDownlinkKind>(gate: string, kind: K, payload: ContractPayloads[K], options: PublishOptions = {}): Promise<void> {
    return this.conn.publish(this.topics.gate(gate).of(kind), encodePayload(kind, payload), { qos: 1, retain: kind === 'events/ack', ...options });
  }

  private sendAck(gate: string, upTo: number): Promise<void> {
    this.stats.acksSent++;
    return this.sendTo(gate, 'events/ack', this.events.signAck(gate, upTo));
  }

  /**
   * The ack after a batch. Acks are cumulative: while one is on its way to the broker, later batches
   * only raise the one to send next, so a burst costs one signature (and one verification on the
   * gate) per round trip rather than per batch, and an idle gate is acked at once.
   */
  private ackSoon(gate: string, upTo: number): void {
    const flight = this.ackFlights.get(gate);
    if (flight) {
      flight.next = Math.max(flight.next ?? 0, upTo);
      return;
    }
    const state: { next: number | null } = { next: null };
    this.ackFlights.set(gate, state);
    const send = (n: number): void => {
      this.sendAck(gate, n)
        .catch((e: Error) => this.log.debug({ err: e.message }, 'ack not published'))
        .finally(() => {
          const next = state.next;
          state.next = null;
          if (next !== null && next >= n) send(next);
          else this.ackFlights.delete(gate);
        });
    };
    send(upTo);
  }

  /** Publishes any payload, outside the contract (tests: forged envelopes, duplicates, raw acks). */
  publishRaw(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): Promise<void> {
    return this.conn.publish(topic, payload, { qos: 1, retain: options.retain ?? false });
  }

  // --- documents ------------------------------------------------------------------------------------

  /** Whether a trust bundle or policy was published before (it is republished on every connect). */
  hasDocument(kind: 'trust' | 'policy'): boolean {
    return this.store.meta(kind) !== undefined;
  }

  /** Signs and publishes (retained) a trust bundle; returns the envelope. */
  async publishTrust(version: number, lifetimeSeconds = 7 * 86_400): Promise<string> {
    const text = this.opts.federation.trustEnvelope(version, Math.floor(this.nowMs() / 1000) - 60, lifetimeSeconds);
    this.store.setMeta('trust', text);
    await this.sendSite('trust', text);
    return text;
  }

  /** Signs and publishes (retained) a policy; returns the envelope. */
  async publishPolicy(policy: Partial<Policy> & { version: number }): Promise<string> {
    const text = this.opts.federation.policyEnvelope(policy);
    this.store.setMeta('policy', text);
    await this.sendSite('policy', text);
    return text;
  }

  // --- lists ----------------------------------------------------------------------------------------

  listVersion(list: ListName): number {
    return this.lists.version(list);
  }

  listCount(list: ListName): number {
    return this.lists.count(list);
  }

  /**
   * Records a delta (version + 1) in the list and its history, signs it and publishes it on
   * `S/lists/{list}` (unless `publish: false`: tests make gaps that way). Returns the envelope.
   */
  async publishDelta(list: ListName, change: ListChange, options: { publish?: boolean } = {}): Promise<{ from: number; to: number; text: string }> {
    const d = this.lists.recordDelta(list, change);
    if (options.publish !== false) await this.sendSite('list', d.text, list);
    return d;
  }

  /**
   * Replaces a list wholesale at `version` (e.g. a nightly rebuild) and forgets its history, so a gate
   * behind it gets a snapshot. Entries need not be sorted.
   */
  loadList(list: ListName, entries: Iterable<WireEntry>, version: number): void {
    this.lists.load(list, entries, version);
  }

  private async onSyncRequest(gate: string, req: SyncRequest): Promise<void> {
    this.stats.syncRequests++;
    const { list, have } = req;
    if (have > this.lists.version(list)) {
      this.log.warn({ gate, list, have, current: this.lists.version(list) }, 'gate holds a newer list than this backend; nothing to send');
      return;
    }
    const key = `${gate}/${list}`;
    if (this.snapshotsInProgress.get(key) === this.lists.version(list)) return; // already streaming it to that gate
    const answer = this.lists.catchUp(list, have);
    switch (answer.kind) {
      case 'none':
        return;
      case 'delta':
        this.stats.deltasSent++;
        await this.sendTo(gate, 'sync/res', answer.text);
        return;
      case 'snapshot':
        this.snapshotsInProgress.set(key, answer.version);
        try {
          this.stats.snapshotsSent++;
          this.log.info({ gate, list, version: answer.version, entries: answer.entries }, 'sending snapshot');
          for (const chunk of answer.chunks()) await this.sendTo(gate, 'sync/res', chunk);
        } finally {
          this.snapshotsInProgress.delete(key);
        }
    }
  }

  // --- look-ups -------------------------------------------------------------------------------------

  /** What look-ups about `handle` answer from now on. */
  setHolder(handle: string, s: HolderStatus, at = Math.floor(this.nowMs() / 1000)): void {
    if (!/^[0-9a-f]{32}$/.test(handle)) throw new Error('holder handle must be 32 lowercase hex');
    this.store.setHolder(handle, s, at);
  }

  holder(handle: string): { s: HolderStatus; at: number } | undefined {
    return this.store.holder(handle);
  }

  private async onLookup(gate: string, req: LookupRequest, props: MessageProps): Promise<void> {
    this.stats.lookups++;
    if (this.lookupDelay === 'never') return;
    if (this.lookupDelay > 0) await new Promise((r) => setTimeout(r, this.lookupDelay as number));
    const h = this.holder(req.holder);
    const answer = { id: req.id, holder: req.holder, s: h?.s ?? null, at: h?.at ?? Math.floor(this.nowMs() / 1000) };
    const text = signEnvelope(this.opts.federation.listSigner, 'passgate-lookup+json', answer);
    const own = this.topics.gate(gate);
    // Answer on the gate's own response topic only: a request cannot make the backend publish elsewhere.
    const corr = props.correlationData ? { properties: { correlationData: props.correlationData } } : {};
    if (props.responseTopic && props.responseTopic.startsWith(`${own.root}/`) && props.responseTopic !== own.lookupRes) {
      await this.conn.publish(props.responseTopic, encodePayload('lookup/res', text), { qos: 1, ...corr });
      return;
    }
    await this.sendTo(gate, 'lookup/res', text, corr);
  }

  // --- events ---------------------------------------------------------------------------------------

  /** Every stored seq of a gate, ascending. */
  storedSeqs(gate: string): number[] {
    return this.events.storedSeqs(gate);
  }

  storedCount(gate: string): number {
    return this.events.storedCount(gate);
  }

  storedEvents(gate: string): StoredEvent[] {
    return this.events.storedEvents(gate);
  }

  /** The contiguous ack and the duplicate / conflict counters of one gate. */
  cursor(gate: string): Cursor {
    return this.events.cursor(gate);
  }

  /** The signed ack this backend would publish for `gate` (tests, `passgate import`). */
  signAck(gate: string, upTo: number, iat?: number): string {
    return this.events.signAck(gate, upTo, iat);
  }

  // --- commands -------------------------------------------------------------------------------------

  /** Signs a command for `gate` (audience `<site>/<gate>`) with the next counter; does not send it. */
  signCommand(gate: string, cmd: CommandName, o: SignCommandOptions = {}): SignedCommand {
    return this.commands.sign(gate, cmd, o);
  }

  /** Sends a signed command and resolves with the gate's `R/cmd/res` (rejects after `timeoutMs`). */
  async sendSigned(c: SignedCommand, timeoutMs = 10_000): Promise<CommandResult> {
    const t = this.topics.gate(c.gate);
    const reply = this.commands.awaitReply(c, timeoutMs);
    this.stats.commandsSent++;
    await this.sendTo(c.gate, 'cmd', c.text, {
      properties: { responseTopic: t.cmdRes, correlationData: Buffer.from(c.jti, 'utf8'), messageExpiryInterval: c.ttlSeconds },
    });
    return reply;
  }

  sendCommand(gate: string, cmd: CommandName, o: SignCommandOptions = {}, timeoutMs?: number): Promise<CommandResult> {
    return this.sendSigned(this.signCommand(gate, cmd, o), timeoutMs);
  }

  /** The last reply received for a jti, if any. */
  commandResult(jti: string): CommandResult | undefined {
    return this.commands.result(jti);
  }

  // --- gate state -----------------------------------------------------------------------------------

  gateState(gate: string): StatePayload | undefined {
    return this.gateStates.get(gate);
  }

  gateStatus(gate: string): StatusPayload | undefined {
    return this.gateStatuses.get(gate);
  }

  /** Event intake counters plus the front's. */
  get counters() {
    return { ...this.events.stats, ...this.stats };
  }

  // --- routing: every payload through the contract's parsers ----------------------------------------

  private onMessage(topic: string, payload: Buffer, props: MessageProps): void {
    const t = parseTopic(topic);
    if (!t || t.scope !== 'gate' || t.site !== this.opts.site) return;
    const gate = t.gate;
    const fail = (e: unknown) => {
      this.stats.refused++;
      this.log.warn({ topic, err: (e as Error).message }, 'backend refused a message');
    };
    try {
      switch (t.kind) {
        case 'events': {
          this.ackSoon(gate, this.events.take(gate, parsePayload('events', payload)));
          return;
        }
        case 'sync/req':
          this.onSyncRequest(gate, parsePayload('sync/req', payload)).catch(fail);
          return;
        case 'lookup/req':
          this.onLookup(gate, parsePayload('lookup/req', payload), props).catch(fail);
          return;
        case 'cmd/res':
          this.commands.replied(parsePayload('cmd/res', payload));
          return;
        case 'state': {
          if (payload.length === 0) {
            this.gateStates.delete(gate);
            return;
          }
          const next = parsePayload('state', payload);
          const held = this.gateStates.get(gate);
          // A will (or offline) of an older connection can arrive after the next `online`: stale.
          if (held && next.state !== 'online' && next.session < held.session) {
            this.log.debug({ gate, state: next.state, session: next.session, current: held.session }, 'stale state ignored');
            return;
          }
          this.gateStates.set(gate, next);
          return;
        }
        case 'status':
          if (payload.length === 0) this.gateStatuses.delete(gate);
          else this.gateStatuses.set(gate, parsePayload('status', payload));
          return;
        default:
          return;
      }
    } catch (e) {
      fail(e);
    }
  }
}
