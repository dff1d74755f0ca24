/**
 * The reference backend: the other end of docs/mqtt-api.md, small enough to read, complete enough to
 * drive gates in the demo, the tests and the benchmarks. It
 *
 * - publishes the trust bundle and policy (retained) and list deltas, and republishes what is
 *   retained on every (re)connect — a broker without persistence forgets it on restart;
 * - answers `R/sync/req` with one merged delta from the history it keeps, or with a snapshot in
 *   chunks when its history does not reach back to what the gate holds;
 * - answers look-ups from a holders map with signed `passgate-lookup+json` envelopes;
 * - stores events de-duplicated on (gate, seq) in its own SQLite and publishes a retained
 *   `R/events/ack {"upTo"}` with the highest contiguous seq stored (a `system` `events_dropped`
 *   event makes its range count as accounted for);
 * - sends signed commands with an increasing `ctr` and collects their `R/cmd/res`.
 *
 * Gate code never imports this.
 */
import Database from 'better-sqlite3';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { signEnvelope } from '../lib/issuer.js';
import type { Federation } from '../lib/federation.js';
import type { WireEntry } from '../../device/core/lists.js';
import type { CommandName } from '../../device/core/signed-command.js';
import type { ListName, Policy } from '../../device/core/types.js';
import { LIST_NAMES } from '../../device/core/types.js';
import {
  SiteTopics,
  encode,
  isEventsDropped,
  parseCommandResult,
  parseEventsBatch,
  parseLookupRequest,
  parseState,
  parseStatus,
  parseSyncRequest,
  parseTopic,
  type CommandResult,
  type EventsAck,
  type EventsBatch,
  type StatePayload,
  type StatusPayload,
  type SyncRequest,
} from '../../sync/topics.js';
import { SILENT, type Logger } from '../../sync/log.js';

export interface ReferenceBackendOptions {
  brokerUrl: string;
  federation: Federation;
  site: string;
  /** SQLite file for events, lists and counters (created if missing); ':memory:' for throw-away runs. */
  dbPath: string;
  log?: Logger;
  /** Extra mqtt.js options (TLS files, credentials). */
  mqtt?: Partial<IClientOptions>;
  /** 5 or 4; default: 5, falling back to 4 when the broker refuses v5. */
  protocolVersion?: 4 | 5;
  /** Entries per snapshot chunk, default 10000 (each chunk is one transaction on the gate). */
  snapshotChunkSize?: number;
  /** Deltas kept per list for catch-up, default 1000; older gates get a snapshot. */
  historyLimit?: number;
  /** Wall clock, ms (tests pin it). */
  nowMs?: () => number;
  /** mqtt.js reconnect period, default 1000 ms. */
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

export interface SignCommandOptions {
  args?: Record<string, unknown>;
  actor?: string;
  /** Lifetime, default 60 s. */
  ttlSeconds?: number;
  /** Overrides for negative tests. */
  aud?: string;
  iat?: number;
  exp?: number;
  ctr?: number;
  jti?: string;
}

export interface SignedCommand {
  gate: string;
  text: string;
  jti: string;
  ctr: number;
  ttlSeconds: number;
}

export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  session: number;
  body: Record<string, unknown>;
}

interface PendingReply {
  resolve(r: CommandResult): void;
  timer: NodeJS.Timeout;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS events (
    gate TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, ts_ms INTEGER NOT NULL, type TEXT NOT NULL,
    session INTEGER NOT NULL, received_at_ms INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (gate, seq)
  ) WITHOUT ROWID;
  -- Seq ranges a gate reported as dropped by its bounded retention: accounted for, never stored.
  CREATE TABLE IF NOT EXISTS gaps (gate TEXT NOT NULL, "from" INTEGER NOT NULL, "to" INTEGER NOT NULL, PRIMARY KEY (gate, "from")) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS cursors (
    gate TEXT PRIMARY KEY, up_to INTEGER NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS lists (name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS list_entries (
    list TEXT NOT NULL, k TEXT NOT NULL, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (list, k)
  ) WITHOUT ROWID;
  -- What look-ups answer from: the backend's knowledge of every holder, not only the listed ones.
  CREATE TABLE IF NOT EXISTS holders (k TEXT PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS list_history (list TEXT NOT NULL, "from" INTEGER NOT NULL, "to" INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (list, "from")) WITHOUT ROWID;
`;

export class ReferenceBackend {
  readonly topics: SiteTopics;
  readonly stats = {
    eventBatches: 0,
    eventsStored: 0,
    duplicates: 0,
    conflicts: 0,
    refused: 0,
    syncRequests: 0,
    deltasSent: 0,
    snapshotsSent: 0,
    lookups: 0,
    commandsSent: 0,
  };
  /** Tests: hold look-up answers back this long (ms), or drop them (`'never'`). */
  lookupDelay: number | 'never' = 0;

  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly chunkSize: number;
  private readonly historyLimit: number;
  private client: MqttClient | null = null;
  private version: 4 | 5 = 5;
  private readonly gateStates = new Map<string, StatePayload>();
  private readonly gateStatuses = new Map<string, StatusPayload>();
  private readonly replies = new Map<string, PendingReply>();
  private readonly results = new Map<string, CommandResult>();
  private readonly snapshotsInProgress = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** When each list last changed (ms); a fresh backend counts from its start. */
  private readonly listChangedAt = new Map<ListName, number>();
  private readonly q;

  constructor(private readonly opts: ReferenceBackendOptions) {
    this.topics = new SiteTopics(opts.site);
    this.log = opts.log ?? SILENT;
    this.nowMs = opts.nowMs ?? Date.now;
    this.chunkSize = opts.snapshotChunkSize ?? 10_000;
    this.historyLimit = opts.historyLimit ?? 1000;
    if (opts.dbPath !== ':memory:') mkdirSync(dirname(opts.dbPath), { recursive: true });
    this.db = new Database(opts.dbPath, { timeout: 5000 }); // a CLI process may share the file
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    for (const l of LIST_NAMES) this.db.prepare('INSERT OR IGNORE INTO lists (name, version) VALUES (?, 0)').run(l);
    const db = this.db;
    this.q = {
      getMeta: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insertEvent: db.prepare(
        'INSERT OR IGNORE INTO events (gate, seq, id, ts_ms, type, session, received_at_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      eventId: db.prepare<[string, number], string>('SELECT id FROM events WHERE gate = ? AND seq = ?').pluck(),
      nextSeqs: db.prepare<[string, number], number>('SELECT seq FROM events WHERE gate = ? AND seq > ? ORDER BY seq LIMIT 1000').pluck(),
      gapCovering: db.prepare<[string, number, number], number | null>(
        'SELECT max("to") FROM gaps WHERE gate = ? AND "from" <= ? AND "to" > ?',
      ).pluck(),
      addGap: db.prepare('INSERT OR REPLACE INTO gaps (gate, "from", "to") VALUES (?, ?, ?)'),
      cursor: db.prepare<[string], { up_to: number; duplicates: number; conflicts: number }>(
        'SELECT up_to, duplicates, conflicts FROM cursors WHERE gate = ?',
      ),
      setCursor: db.prepare(
        'INSERT INTO cursors (gate, up_to, duplicates, conflicts) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(gate) DO UPDATE SET up_to = excluded.up_to, duplicates = excluded.duplicates, conflicts = excluded.conflicts',
      ),
      allCursors: db.prepare<[], { gate: string; up_to: number }>('SELECT gate, up_to FROM cursors'),
      listVersion: db.prepare<[string], number>('SELECT version FROM lists WHERE name = ?').pluck(),
      setListVersion: db.prepare('UPDATE lists SET version = ? WHERE name = ?'),
      putEntry: db.prepare('INSERT OR REPLACE INTO list_entries (list, k, s, at, until) VALUES (?, ?, ?, ?, ?)'),
      delEntry: db.prepare('DELETE FROM list_entries WHERE list = ? AND k = ?'),
      clearEntries: db.prepare('DELETE FROM list_entries WHERE list = ?'),
      // raw(): rows come as [k, s, at, until] arrays, i.e. already WireEntry (1M rows: no re-mapping).
      entries: db.prepare<[string], WireEntry>('SELECT k, s, at, until FROM list_entries WHERE list = ? ORDER BY k').raw(),
      entryCount: db.prepare<[string], number>('SELECT count(*) FROM list_entries WHERE list = ?').pluck(),
      addHistory: db.prepare('INSERT OR REPLACE INTO list_history (list, "from", "to", body) VALUES (?, ?, ?, ?)'),
      history: db.prepare<[string, number], { from: number; to: number; body: string }>(
        'SELECT "from", "to", body FROM list_history WHERE list = ? AND "from" >= ? ORDER BY "from"',
      ),
      pruneHistory: db.prepare(
        'DELETE FROM list_history WHERE list = ? AND "from" NOT IN (SELECT "from" FROM list_history WHERE list = ? ORDER BY "from" DESC LIMIT ?)',
      ),
      clearHistory: db.prepare('DELETE FROM list_history WHERE list = ?'),
      getHolder: db.prepare<[string], { s: 0 | 1 | 2 | 3; at: number }>('SELECT s, at FROM holders WHERE k = ?'),
      setHolder: db.prepare('INSERT OR REPLACE INTO holders (k, s, at) VALUES (?, ?, ?)'),
      eventsOf: db.prepare<[string], { seq: number; id: string; type: string; session: number; body: string }>(
        'SELECT seq, id, type, session, body FROM events WHERE gate = ? ORDER BY seq',
      ),
      seqsOf: db.prepare<[string], number>('SELECT seq FROM events WHERE gate = ? ORDER BY seq').pluck(),
      countOf: db.prepare<[string], number>('SELECT count(*) FROM events WHERE gate = ?').pluck(),
    };
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  /** Connects, subscribes, republishes what is retained; resolves on the first connection. */
  async start(): Promise<void> {
    const o = this.opts;
    const beat = o.listHeartbeatSeconds === undefined ? 3600 : o.listHeartbeatSeconds;
    if (beat !== null && this.serving) {
      for (const l of LIST_NAMES) if (!this.listChangedAt.has(l)) this.listChangedAt.set(l, this.nowMs());
      this.heartbeat = setInterval(() => void this.listHeartbeat(beat * 1000), Math.min(60_000, beat * 1000));
      this.heartbeat.unref?.();
    }
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`backend: no connection to ${o.brokerUrl} within 15 s`)), 15_000);
      this.connect(o.protocolVersion ?? 5, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** MQTT 5 unless told otherwise; a broker that refuses v5 (aedes) gets 3.1.1. */
  private connect(version: 4 | 5, connected: () => void): void {
    const o = this.opts;
    this.version = version;
    const client = mqtt.connect(o.brokerUrl, {
      clientId: o.clientId ?? `passgate-backend-${o.site}`,
      protocolVersion: version,
      // A persistent session: gate events published while this backend restarts wait at the broker.
      clean: this.serving ? false : true,
      ...(version === 5 && this.serving ? { properties: { sessionExpiryInterval: 86_400 } } : {}),
      reconnectPeriod: o.reconnectPeriodMs ?? 1000,
      connectTimeout: 10_000,
      ...o.mqtt,
    });
    this.client = client;
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => this.onMessage(topic, payload, packet));
    client.on('error', (e: Error & { code?: unknown }) => {
      if (version === 5 && o.protocolVersion === undefined && (e.code === 1 || e.code === 0x84) && this.client === client) {
        this.log.warn({}, 'broker refused MQTT 5; backend falls back to 3.1.1');
        client.end(true);
        this.connect(4, connected);
        return;
      }
      this.log.warn({ err: e.message }, 'backend mqtt error');
    });
    client.on('close', () => this.log.debug({}, 'backend disconnected'));
    client.on('connect', (connack) => {
      void (async () => {
        try {
          if (!connack.sessionPresent) await client.subscribeAsync(this.subscriptions(), { qos: 1 });
          if (this.serving) await this.republishRetained();
          this.log.info({ sessionPresent: connack.sessionPresent, protocolVersion: version }, 'backend connected');
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'backend (re)connect setup failed');
        }
      })();
    });
    client.once('connect', () => connected());
  }

  /** Empty deltas for lists that have not changed for `afterMs`. */
  private async listHeartbeat(afterMs: number): Promise<void> {
    if (!this.connected) return;
    for (const l of LIST_NAMES) {
      if (this.nowMs() - (this.listChangedAt.get(l) ?? 0) < afterMs) continue;
      try {
        const d = await this.publishDelta(l, {});
        this.log.debug({ list: l, to: d.to }, 'list heartbeat (empty delta)');
      } catch (e) {
        this.log.warn({ list: l, err: (e as Error).message }, 'list heartbeat failed');
      }
    }
  }

  /** Disconnects (if connected) and closes the database. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const p of this.replies.values()) clearTimeout(p.timer);
    this.replies.clear();
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync();
    this.db.close();
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
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
    const trust = this.q.getMeta.get('trust');
    const policy = this.q.getMeta.get('policy');
    if (trust) await this.publish(this.topics.trust, trust, true);
    if (policy) await this.publish(this.topics.policy, policy, true);
    for (const c of this.q.allCursors.all()) await this.publishAck(c.gate, c.up_to);
  }

  private async publish(topic: string, payload: string, retain = false, properties?: IPublishPacket['properties']): Promise<void> {
    const c = this.client;
    if (!c) throw new Error('backend stopped');
    await c.publishAsync(topic, payload, { qos: 1, retain, ...(properties && this.version === 5 ? { properties } : {}) });
  }

  /** Publishes any payload (tests: forged envelopes, duplicates, raw acks). */
  publishRaw(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): Promise<void> {
    const c = this.client;
    if (!c) return Promise.reject(new Error('backend stopped'));
    return c.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false }).then(() => {});
  }

  // --- documents ------------------------------------------------------------------------------------

  /** Whether a trust bundle or policy was published before (it is republished on every connect). */
  hasDocument(kind: 'trust' | 'policy'): boolean {
    return this.q.getMeta.get(kind) !== undefined;
  }

  /** Signs and publishes (retained) a trust bundle; returns the envelope. */
  async publishTrust(version: number, lifetimeSeconds = 7 * 86_400): Promise<string> {
    const text = this.opts.federation.trustEnvelope(version, Math.floor(this.nowMs() / 1000) - 60, lifetimeSeconds);
    this.q.setMeta.run('trust', text);
    await this.publish(this.topics.trust, text, true);
    return text;
  }

  /** Signs and publishes (retained) a policy; returns the envelope. */
  async publishPolicy(policy: Partial<Policy> & { version: number }): Promise<string> {
    const text = this.opts.federation.policyEnvelope(policy);
    this.q.setMeta.run('policy', text);
    await this.publish(this.topics.policy, text, true);
    return text;
  }

  // --- lists ----------------------------------------------------------------------------------------

  listVersion(list: ListName): number {
    return this.q.listVersion.get(list) as number;
  }

  listCount(list: ListName): number {
    return this.q.entryCount.get(list) as number;
  }

  /**
   * Records a delta (version + 1) in the list and its history, signs it and publishes it on
   * `S/lists/{list}` (unless `publish: false`: tests make gaps that way). Returns the envelope.
   */
  async publishDelta(list: ListName, change: { put?: WireEntry[]; del?: string[] }, options: { publish?: boolean } = {}): Promise<{ from: number; to: number; text: string }> {
    const put = change.put ?? [];
    const del = change.del ?? [];
    const { from, to, text } = this.db.transaction(() => {
      const from = this.listVersion(list);
      const to = from + 1;
      const payload = { list, from, to, put, del };
      for (const e of put) this.q.putEntry.run(list, e[0], e[1], e[2], e[3]);
      for (const k of del) this.q.delEntry.run(list, k);
      this.q.setListVersion.run(to, list);
      this.listChangedAt.set(list, this.nowMs());
      this.q.addHistory.run(list, from, to, JSON.stringify({ put, del }));
      this.q.pruneHistory.run(list, list, this.historyLimit);
      return { from, to, text: signEnvelope(this.opts.federation.listSigner, 'passgate-list+json', payload) };
    }).immediate();
    if (options.publish !== false) await this.publish(this.topics.list(list), text);
    return { from, to, text };
  }

  /**
   * Replaces a list wholesale at `version` (e.g. a nightly rebuild) and forgets its history, so a gate
   * behind it gets a snapshot. Entries need not be sorted.
   */
  loadList(list: ListName, entries: Iterable<WireEntry>, version: number): void {
    this.db.transaction(() => {
      this.q.clearEntries.run(list);
      this.q.clearHistory.run(list);
      for (const e of entries) this.q.putEntry.run(list, e[0], e[1], e[2], e[3]);
      this.q.setListVersion.run(version, list);
      this.listChangedAt.set(list, this.nowMs());
    }).immediate();
  }

  private async onSyncRequest(gate: string, req: SyncRequest): Promise<void> {
    this.stats.syncRequests++;
    const { list, have } = req;
    const current = this.listVersion(list);
    const res = this.topics.gate(gate).syncRes;
    if (have === current) return;
    if (have > current) {
      this.log.warn({ gate, list, have, current }, 'gate holds a newer list than this backend; nothing to send');
      return;
    }
    const merged = this.mergedDelta(list, have, current);
    if (merged && merged.put.length + merged.del.length <= Math.max(1000, this.listCount(list))) {
      this.stats.deltasSent++;
      const text = signEnvelope(this.opts.federation.listSigner, 'passgate-list+json', { list, from: have, to: current, ...merged });
      await this.publish(res, text);
      return;
    }
    await this.sendSnapshot(gate, list, current);
  }

  /** The deltas from `have` to `current` merged into one, or null when the history does not reach. */
  private mergedDelta(list: ListName, have: number, current: number): { put: WireEntry[]; del: string[] } | null {
    const rows = this.q.history.all(list, have);
    let at = have;
    const state = new Map<string, WireEntry | null>();
    for (const r of rows) {
      if (r.from !== at) return null;
      const d = JSON.parse(r.body) as { put: WireEntry[]; del: string[] };
      for (const e of d.put) state.set(e[0], e);
      for (const k of d.del) state.set(k, null);
      at = r.to;
    }
    if (at !== current) return null;
    const put: WireEntry[] = [];
    const del: string[] = [];
    for (const [k, e] of state) {
      if (e) put.push(e);
      else del.push(k);
    }
    return { put, del };
  }

  private async sendSnapshot(gate: string, list: ListName, version: number): Promise<void> {
    const key = `${gate}/${list}`;
    if (this.snapshotsInProgress.get(key) === version) return; // already streaming this one to that gate
    this.snapshotsInProgress.set(key, version);
    try {
      // Read in one go (one consistent version; a delta may land while chunks go out), sign and
      // publish chunk by chunk so only one signed chunk is in memory at a time.
      const entries = this.q.entries.all(list) as WireEntry[];
      const chunks = Math.max(1, Math.ceil(entries.length / this.chunkSize));
      this.stats.snapshotsSent++;
      this.log.info({ gate, list, version, entries: entries.length, chunks }, 'sending snapshot');
      const res = this.topics.gate(gate).syncRes;
      for (let i = 0; i < chunks; i++) {
        const put = entries.slice(i * this.chunkSize, (i + 1) * this.chunkSize);
        const payload = { list, snapshot: version, chunk: i, chunks, count: entries.length, put };
        await this.publish(res, signEnvelope(this.opts.federation.listSigner, 'passgate-list+json', payload));
      }
    } finally {
      this.snapshotsInProgress.delete(key);
    }
  }

  // --- look-ups -------------------------------------------------------------------------------------

  /** What look-ups about `handle` answer from now on. */
  setHolder(handle: string, s: 0 | 1 | 2 | 3, at = Math.floor(this.nowMs() / 1000)): void {
    if (!/^[0-9a-f]{32}$/.test(handle)) throw new Error('holder handle must be 32 lowercase hex');
    this.q.setHolder.run(handle, s, at);
  }

  holder(handle: string): { s: 0 | 1 | 2 | 3; at: number } | undefined {
    return this.q.getHolder.get(handle);
  }

  private async onLookup(gate: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const req = parseLookupRequest(payload);
    this.stats.lookups++;
    if (this.lookupDelay === 'never') return;
    if (this.lookupDelay > 0) await new Promise((r) => setTimeout(r, this.lookupDelay as number));
    const h = this.holder(req.holder);
    const answer = { id: req.id, holder: req.holder, s: h?.s ?? null, at: h?.at ?? Math.floor(this.nowMs() / 1000) };
    const text = signEnvelope(this.opts.federation.listSigner, 'passgate-lookup+json', answer);
    const own = this.topics.gate(gate);
    // Answer on the gate's own response topic only: a request cannot make the backend publish elsewhere.
    const asked = packet.properties?.responseTopic;
    const topic = asked && asked.startsWith(`${own.root}/`) ? asked : own.lookupRes;
    const corr = packet.properties?.correlationData;
    await this.publish(topic, text, false, corr ? { correlationData: corr } : undefined);
  }

  // --- events ---------------------------------------------------------------------------------------

  private onEvents(gate: string, batch: EventsBatch): void {
    if (batch.gate !== gate) throw new Error(`events batch names gate ${batch.gate} on ${gate}'s topic`);
    this.stats.eventBatches++;
    const now = this.nowMs();
    const upTo = this.db.transaction(() => {
      const cur = this.q.cursor.get(gate) ?? { up_to: 0, duplicates: 0, conflicts: 0 };
      let { duplicates, conflicts } = cur;
      for (const e of batch.events) {
        const r = this.q.insertEvent.run(gate, e.seq, e.id, e.tsMs, e.type, batch.session, now, JSON.stringify(e));
        if (r.changes === 1) {
          this.stats.eventsStored++;
          if (isEventsDropped(e)) {
            this.q.addGap.run(gate, e.dropped.from, e.dropped.to);
            this.log.warn({ gate, ...e.dropped }, 'gate reports dropped events');
          }
        } else if (this.q.eventId.get(gate, e.seq) === e.id) {
          duplicates++;
          this.stats.duplicates++;
        } else {
          // Same (gate, seq), another event: the gate reused a seq. Never overwrite; make it loud.
          conflicts++;
          this.stats.conflicts++;
          this.log.error({ gate, seq: e.seq }, 'seq reused by gate with a different event');
        }
      }
      const upTo = this.advance(gate, cur.up_to);
      this.q.setCursor.run(gate, upTo, duplicates, conflicts);
      return upTo;
    }).immediate();
    void this.publishAck(gate, upTo).catch((e: Error) => this.log.debug({ err: e.message }, 'ack not published'));
  }

  /** The highest seq such that every seq up to it is stored or reported dropped. */
  private advance(gate: string, from: number): number {
    let c = from;
    for (;;) {
      const gapEnd = this.q.gapCovering.get(gate, c + 1, c) as number | null | undefined;
      if (gapEnd != null) {
        c = gapEnd;
        continue;
      }
      const seqs = this.q.nextSeqs.all(gate, c) as number[];
      let moved = false;
      for (const s of seqs) {
        if (s !== c + 1) break;
        c = s;
        moved = true;
      }
      if (!moved) return c;
    }
  }

  private publishAck(gate: string, upTo: number): Promise<void> {
    const ack: EventsAck = { upTo };
    return this.publish(this.topics.gate(gate).eventsAck, encode(ack), true);
  }

  /** Every stored seq of a gate, ascending. */
  storedSeqs(gate: string): number[] {
    return this.q.seqsOf.all(gate) as number[];
  }

  storedCount(gate: string): number {
    return this.q.countOf.get(gate) as number;
  }

  storedEvents(gate: string): StoredEvent[] {
    return this.q.eventsOf.all(gate).map((r) => ({ seq: r.seq, id: r.id, type: r.type, session: r.session, body: JSON.parse(r.body) }));
  }

  /** The contiguous ack and the duplicate / conflict counters of one gate. */
  cursor(gate: string): { upTo: number; duplicates: number; conflicts: number } {
    const c = this.q.cursor.get(gate);
    return { upTo: c?.up_to ?? 0, duplicates: c?.duplicates ?? 0, conflicts: c?.conflicts ?? 0 };
  }

  // --- commands -------------------------------------------------------------------------------------

  /** Signs a command for `gate` with the next counter; does not send it. */
  signCommand(gate: string, cmd: CommandName, o: SignCommandOptions = {}): SignedCommand {
    const ctr = o.ctr ?? this.nextCounter();
    const iat = o.iat ?? Math.floor(this.nowMs() / 1000);
    const ttlSeconds = o.ttlSeconds ?? 60;
    const jti = o.jti ?? randomUUID();
    const payload = { aud: o.aud ?? gate, cmd, ...(o.args ? { args: o.args } : {}), actor: o.actor ?? 'ops:reference-backend', iat, exp: o.exp ?? iat + ttlSeconds, jti, ctr };
    return { gate, text: signEnvelope(this.opts.federation.commandSigner, 'passgate-cmd+json', payload), jti, ctr, ttlSeconds };
  }

  /** Sends a signed command and resolves with the gate's `R/cmd/res` (rejects after `timeoutMs`). */
  async sendSigned(c: SignedCommand, timeoutMs = 10_000): Promise<CommandResult> {
    const t = this.topics.gate(c.gate);
    const reply = new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(c.jti);
        reject(new Error(`no reply to command ${c.jti} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.replies.set(c.jti, { resolve, timer });
    });
    reply.catch(() => {});
    this.stats.commandsSent++;
    await this.publish(t.cmd, c.text, false, {
      responseTopic: t.cmdRes,
      correlationData: Buffer.from(c.jti, 'utf8'),
      messageExpiryInterval: c.ttlSeconds,
    });
    return reply;
  }

  sendCommand(gate: string, cmd: CommandName, o: SignCommandOptions = {}, timeoutMs?: number): Promise<CommandResult> {
    return this.sendSigned(this.signCommand(gate, cmd, o), timeoutMs);
  }

  /** The last reply received for a jti, if any. */
  commandResult(jti: string): CommandResult | undefined {
    return this.results.get(jti);
  }

  private nextCounter(): number {
    return this.db.transaction(() => {
      const next = Number(this.q.getMeta.get('cmd_ctr') ?? '0') + 1;
      this.q.setMeta.run('cmd_ctr', String(next));
      return next;
    }).immediate();
  }

  // --- gate state -----------------------------------------------------------------------------------

  gateState(gate: string): StatePayload | undefined {
    return this.gateStates.get(gate);
  }

  gateStatus(gate: string): StatusPayload | undefined {
    return this.gateStatuses.get(gate);
  }

  // --- routing --------------------------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const t = parseTopic(topic);
    if (!t || t.scope !== 'gate' || t.site !== this.opts.site) return;
    const gate = t.gate;
    const fail = (e: unknown) => {
      this.stats.refused++;
      this.log.warn({ topic, err: (e as Error).message }, 'backend refused a message');
    };
    try {
      switch (t.kind) {
        case 'events':
          this.onEvents(gate, parseEventsBatch(payload));
          return;
        case 'sync/req':
          this.onSyncRequest(gate, parseSyncRequest(payload)).catch(fail);
          return;
        case 'lookup/req':
          this.onLookup(gate, payload, packet).catch(fail);
          return;
        case 'cmd/res': {
          const r = parseCommandResult(payload);
          if (r.jti) {
            this.results.set(r.jti, r);
            const p = this.replies.get(r.jti);
            if (p) {
              clearTimeout(p.timer);
              this.replies.delete(r.jti);
              p.resolve(r);
            }
          }
          return;
        }
        case 'state': {
          if (payload.length === 0) {
            this.gateStates.delete(gate);
            return;
          }
          const next = parseState(payload);
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
          else this.gateStatuses.set(gate, parseStatus(payload));
          return;
        default:
          return;
      }
    } catch (e) {
      fail(e);
    }
  }
}
