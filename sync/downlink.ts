/**
 * Everything that comes down to a gate (§7), routed by topic. Every envelope goes through
 * ingestEnvelope with the `typ` its topic implies before it touches the store, so a forged,
 * wrong-role, wrong-typ or downgraded envelope changes nothing. Refusals are logged with their code
 * and counted per code (shown in R/status).
 *
 * Lists: a gap (LIST_GAP) or a snapshot that does not add up (COUNT_MISMATCH) asks the backend for
 * a resync on `R/sync/req {"list","have"}`, rate-limited per list; on every connect both lists are
 * requested, since deltas published while the gate was away are not queued for it (clean session).
 *
 * Big snapshot chunks and deltas are applied synchronously by better-sqlite3 and block the event loop
 * for the transaction (≈ 10–100 ms per 10k sorted entries on the reference machine, more on an SD
 * card). Decisions wait that long at worst; the backend keeps chunks small for that reason. A worker
 * thread owning a second connection to the same WAL database would remove the stall; not done yet.
 */
import type { EnvelopeType } from '../device/core/envelope.js';
import { ingestEnvelope, type Ingested } from '../device/ingest.js';
import { PassgateError, isPassgateError } from '../base/errors.js';
import { LIST_NAMES, type ListName } from '../device/core/types.js';
import { parseTopic } from './topics.js';
import { parsePayload, type SyncRequest } from './contract.js';
import { describeSkipped } from '../device/core/trust.js';
import type { MessageProps } from './connection.js';
import type { LinkParts } from './link-parts.js';
import { RateLimitedLog, type Logger } from '../base/log.js';
import type { DocumentKind } from '../device/bus.js';
import { checkRange } from '../base/check.js';

export interface DownlinkHooks {
  /** A trust bundle, a policy or a list was applied (GateLink tells the bus; the verifier reloads). */
  documentsChanged(kinds: DocumentKind[]): void;
  /** A list changed version (or anything else R/status shows). */
  changed(): void;
  /** A signed ack for this gate, not above the last seq assigned, arrived. */
  acked(upTo: number): void;
  /** An ack was refused (it deleted nothing). */
  ackRefused(): void;
  lookupAnswer(text: string): void;
  command(text: string, props: MessageProps): void;
}

export interface DownlinkOptions {
  /** Least time between two sync requests for one list, [100…600000], default 5000 ms. */
  resyncMinIntervalMs?: number;
  /** While snapshot chunks keep arriving (one within this long), gaps do not ask again. Default 15000 ms. */
  stagingQuietMs?: number;
}

export class Downlink {
  private readonly minIntervalMs: number;
  private readonly stagingQuietMs: number;
  private readonly lastRequest = new Map<ListName, number>();
  private readonly deferred = new Map<ListName, NodeJS.Timeout>();
  private readonly lastChunk = new Map<ListName, number>();
  /** The last policy envelope refused for want of trust: retried when a trust bundle arrives. */
  private parkedPolicy: string | null = null;
  readonly stats = { applied: 0, ignored: 0, staged: 0, syncRequests: 0, refusedAcks: 0 };
  private readonly ackLog: RateLimitedLog;

  constructor(
    private readonly link: LinkParts,
    private readonly hooks: DownlinkHooks,
    private readonly log: Logger,
    options: DownlinkOptions = {},
  ) {
    this.minIntervalMs = options.resyncMinIntervalMs ?? 5000;
    checkRange('sync.resyncMinIntervalMs', this.minIntervalMs, 100, 600_000);
    this.stagingQuietMs = options.stagingQuietMs ?? 15_000;
    this.ackLog = new RateLimitedLog(log);
  }

  connected(): void {
    for (const list of LIST_NAMES) this.requestSync(list, 'connect', true);
  }

  stop(): void {
    for (const t of this.deferred.values()) clearTimeout(t);
    this.deferred.clear();
  }

  message(topic: string, payload: Buffer, props: MessageProps): void {
    const t = parseTopic(topic);
    const mine = t && t.site === this.link.topics.site && (t.scope === 'site' || t.gate === this.link.topics.gate);
    if (!t || !mine) {
      this.log.debug({ topic }, 'message on a topic this gate does not handle');
      return;
    }
    try {
      if (t.scope === 'site') {
        const typ: EnvelopeType = t.kind === 'trust' ? 'passgate-trust+json' : t.kind === 'policy' ? 'passgate-policy+json' : 'passgate-list+json';
        this.ingest(topic, parsePayload(t.kind, payload), typ, t.kind === 'list' ? t.list : null);
        return;
      }
      switch (t.kind) {
        case 'sync/res':
          this.ingest(topic, parsePayload('sync/res', payload), 'passgate-list+json', null);
          return;
        case 'events/ack':
          this.ack(topic, payload);
          return;
        case 'lookup/res':
          this.hooks.lookupAnswer(parsePayload('lookup/res', payload));
          return;
        case 'cmd':
          this.hooks.command(parsePayload('cmd', payload), props);
          return;
        default:
          this.log.debug({ topic }, 'message on an uplink topic ignored');
      }
    } catch (e) {
      this.refuse(topic, e);
    }
  }

  /**
   * Asks for `list` from the version held. `force` skips the rate limit (connect, `sync` command);
   * otherwise at most one request per list per interval, with one trailing request kept.
   */
  requestSync(list: ListName, why: string, force = false): void {
    const now = this.link.clock.monoMs();
    if (!force) {
      const chunkAt = this.lastChunk.get(list);
      if (chunkAt !== undefined && now - chunkAt < this.stagingQuietMs) return; // a snapshot is arriving
      const last = this.lastRequest.get(list);
      if (last !== undefined && now - last < this.minIntervalMs) {
        if (!this.deferred.has(list)) {
          const t = setTimeout(() => {
            this.deferred.delete(list);
            this.requestSync(list, why.endsWith('(deferred)') ? why : `${why} (deferred)`, true);
          }, this.minIntervalMs - (now - last));
          t.unref?.();
          this.deferred.set(list, t);
        }
        return;
      }
    }
    if (!this.link.conn.connected) return; // the next connect asks anyway
    this.lastRequest.set(list, now);
    const req: SyncRequest = { list, have: this.link.store.meta(list).version };
    this.stats.syncRequests++;
    this.log.info({ ...req, why }, 'requesting list sync');
    this.link.conn.send('sync/req', req, { qos: 1 }).catch((e: Error) => {
      this.log.debug({ err: e.message, list }, 'sync request not published');
    });
  }

  /**
   * `R/events/ack` (§7 revision 2): deletes only on a `passgate-ack+json` envelope that verifies
   * against `signers.lists`, names this gate and does not go beyond the last seq assigned. Anything
   * else deletes nothing: counted, and logged at most once per code per 10 s (by code only: nothing
   * of an unverified message reaches the log).
   */
  private ack(topic: string, payload: Buffer): void {
    if (payload.length === 0) {
      this.log.debug({ topic }, 'retained events ack cleared');
      return;
    }
    let upTo: number;
    try {
      const r = ingestEnvelope(parsePayload('events/ack', payload), this.link.store, this.link.clock, 'passgate-ack+json');
      if (r.typ !== 'passgate-ack+json') throw new PassgateError('WRONG_TYPE', `expected an ack, got ${r.typ}`);
      upTo = r.ack.upTo;
    } catch (e) {
      const code = isPassgateError(e) ? e.code : 'INTERNAL';
      this.stats.refusedAcks++;
      this.link.refusals.add({ code, topic, atMs: this.link.clock.nowMs(), detail: 'events ack refused' });
      this.ackLog.warn(code, { code, refusedAcks: this.stats.refusedAcks }, 'events ack refused: nothing deleted');
      this.hooks.ackRefused();
      return;
    }
    this.hooks.acked(upTo);
  }

  private ingest(topic: string, text: string, typ: EnvelopeType, topicList: ListName | null): void {
    let r: Ingested;
    try {
      r = ingestEnvelope(text, this.link.store, this.link.clock, typ);
    } catch (e) {
      if (isPassgateError(e) && typ === 'passgate-policy+json' && e.code === 'UNKNOWN_KEY') {
        this.parkedPolicy = text; // perhaps signed by a new key of a trust bundle not here yet
      }
      this.refuse(topic, e);
      return;
    }
    this.log.debug({ topic, typ: r.typ, outcome: r.outcome }, 'envelope ingested');
    if (r.outcome === 'ignored') {
      this.stats.ignored++;
      return;
    }
    switch (r.typ) {
      case 'passgate-trust+json':
        this.stats.applied++;
        this.log.info({ version: r.version, keysLeftOut: r.skippedKeys.length }, 'trust bundle applied');
        if (r.skippedKeys.length) this.log.warn({ version: r.version, keysLeftOut: r.skippedKeys.map(describeSkipped) }, 'trust bundle: keys left out (§1)');
        this.hooks.documentsChanged(['trust']);
        this.retryParkedPolicy();
        // New list signers may make yesterday's refused deltas good: catch up now.
        for (const list of LIST_NAMES) this.requestSync(list, 'trust changed');
        break;
      case 'passgate-policy+json':
        this.stats.applied++;
        this.parkedPolicy = null;
        this.log.info({ version: r.version }, 'policy applied');
        this.hooks.documentsChanged(['policy']);
        break;
      case 'passgate-list+json':
        if (r.outcome === 'staged') {
          this.stats.staged++;
          this.lastChunk.set(r.list as ListName, this.link.clock.monoMs());
          this.log.debug({ list: r.list, snapshot: r.snapshot, received: r.received, chunks: r.chunks }, 'snapshot chunk staged');
          return;
        }
        this.stats.applied++;
        this.lastChunk.delete(r.list as ListName);
        if (topicList && r.list !== topicList) this.log.warn({ topic, list: r.list }, 'list envelope on another list’s topic (applied: it is signed)');
        this.log.info({ list: r.list, version: r.version }, 'list updated');
        this.hooks.documentsChanged([r.list as ListName]);
        break;
      default:
        this.log.warn({ topic, typ: r.typ }, 'unexpected envelope type');
    }
    this.hooks.changed();
  }

  private retryParkedPolicy(): void {
    const text = this.parkedPolicy;
    if (!text) return;
    this.parkedPolicy = null;
    this.ingest(this.link.topics.siteTopics.policy, text, 'passgate-policy+json', null);
  }

  private refuse(topic: string, e: unknown): void {
    const code = isPassgateError(e) ? e.code : 'INTERNAL';
    const detail = e instanceof Error ? e.message : String(e);
    if (code === 'INTERNAL') this.log.error({ topic, err: e }, 'message handling failed');
    else this.log.warn({ topic, code, detail }, 'message refused');
    this.link.refusals.add({ code, topic, atMs: this.link.clock.nowMs(), detail });
    if (isPassgateError(e) && (e.code === 'LIST_GAP' || e.code === 'COUNT_MISMATCH')) {
      const list = e.context?.list;
      if (list === 'tokens' || list === 'holders') {
        if (e.code === 'COUNT_MISMATCH') this.lastChunk.delete(list);
        this.requestSync(list, e.code);
      }
    }
  }
}
