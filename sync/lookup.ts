/**
 * The online holder look-up (§7) as the Verifier's LookupPort: `R/lookup/req {"id","holder"}` (on
 * MQTT 5 also with a response topic and the id as correlation data), a hard timeout that resolves
 * null (→ LOOKUP_TIMEOUT), and only answers that verify as `passgate-lookup+json` envelopes from
 * `signers.lists` and match a request's id and holder count. Anything else is ignored and logged.
 *
 * A signed answer with a status is cached as a `holders` entry without changing the list version
 * (GateStore.cacheHolder), even when it arrives after the timeout: the next tap decides offline.
 */
import { randomUUID } from 'node:crypto';
import type { LookupAnswer } from '../device/core/ports.js';
import type { LookupPort } from '../device/verifier.js';
import { ingestEnvelope } from '../device/ingest.js';
import { isPassgateError } from '../base/errors.js';
import type { LookupCounters, LookupRequest } from './contract.js';
import type { LinkParts } from './link-parts.js';
import type { Logger } from '../base/log.js';

export interface LookupOptions {
  /** How long a cached answer counts as a holders entry (`until` = now + this), default 86400 s. */
  cacheSeconds?: number;
  /** How long a late answer to a timed-out request is still accepted for the cache, default 60000 ms. */
  lateAnswerMs?: number;
}

interface Outstanding {
  holder: string;
  sentMonoMs: number;
  settle: ((a: LookupAnswer | null) => void) | null;
  timer: NodeJS.Timeout | null;
}

export class MqttLookup implements LookupPort {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly cacheSeconds: number;
  private readonly lateAnswerMs: number;
  readonly stats: LookupCounters = { requests: 0, answered: 0, timeouts: 0, offline: 0, cached: 0, ignored: 0 };

  constructor(
    private readonly link: LinkParts,
    private readonly log: Logger,
    options: LookupOptions = {},
  ) {
    this.cacheSeconds = options.cacheSeconds ?? 86_400;
    this.lateAnswerMs = options.lateAnswerMs ?? 60_000;
  }

  lookup(holder: string, timeoutMs: number): Promise<LookupAnswer | null> {
    this.prune();
    if (!this.link.conn.connected) {
      // Nobody to ask: do not make the commuter wait for the timeout.
      this.stats.offline++;
      return Promise.resolve(null);
    }
    const id = randomUUID();
    this.stats.requests++;
    return new Promise<LookupAnswer | null>((resolve) => {
      const entry: Outstanding = { holder, sentMonoMs: this.link.clock.monoMs(), settle: resolve, timer: null };
      entry.timer = setTimeout(() => {
        if (!entry.settle) return;
        entry.settle = null;
        this.stats.timeouts++;
        this.log.info({ id, timeoutMs }, 'look-up timed out');
        resolve(null);
      }, timeoutMs);
      this.outstanding.set(id, entry);
      const req: LookupRequest = { id, holder };
      this.link.conn
        .send('lookup/req', req, {
          qos: 1,
          properties: { responseTopic: this.link.topics.lookupRes, correlationData: Buffer.from(id, 'utf8') },
        })
        .catch((e: Error) => {
          this.log.debug({ err: e.message }, 'look-up request not published');
          if (entry.settle) {
            entry.settle = null;
            clearTimeout(entry.timer!);
            resolve(null);
          }
        });
    });
  }

  /** `R/lookup/res` arrived. */
  answer(text: string): void {
    let reply;
    try {
      const r = ingestEnvelope(text, this.link.store, this.link.clock, 'passgate-lookup+json');
      if (r.typ !== 'passgate-lookup+json') return;
      reply = r.reply;
    } catch (e) {
      const code = isPassgateError(e) ? e.code : 'INTERNAL';
      this.stats.ignored++;
      this.log.warn({ code, detail: (e as Error).message }, 'look-up answer refused');
      this.link.refusals.add({ code, topic: this.link.topics.lookupRes, atMs: this.link.clock.nowMs(), detail: (e as Error).message });
      return;
    }
    const req = this.outstanding.get(reply.id);
    if (!req || req.holder !== reply.holder) {
      // Signed, but not an answer to anything asked here (replayed, or for another request).
      this.stats.ignored++;
      this.log.warn({ id: reply.id }, 'look-up answer matches no request; ignored');
      this.link.refusals.add({ code: 'UNMATCHED_ANSWER', topic: this.link.topics.lookupRes, atMs: this.link.clock.nowMs(), detail: reply.id });
      return;
    }
    this.outstanding.delete(reply.id);
    if (req.timer) clearTimeout(req.timer);
    this.stats.answered++;
    if (reply.s !== null) {
      try {
        const until = Math.floor(this.link.clock.nowMs() / 1000) + this.cacheSeconds;
        if (this.link.store.cacheHolder(reply.holder, reply.s, reply.at, until)) this.stats.cached++;
      } catch (e) {
        this.log.error({ err: e }, 'could not cache a look-up answer');
      }
    }
    const settle = req.settle;
    req.settle = null;
    settle?.({ holder: reply.holder, s: reply.s, at: reply.at });
  }

  /** Outstanding requests are kept past their timeout (for late answers), then forgotten. */
  private prune(): void {
    const now = this.link.clock.monoMs();
    for (const [id, o] of this.outstanding) if (!o.settle && now - o.sentMonoMs > this.lateAnswerMs) this.outstanding.delete(id);
  }

  /** On disconnect every pending look-up resolves null at once: no answer can come on this connection. */
  disconnected(): void {
    for (const o of this.outstanding.values()) {
      if (o.settle) {
        const s = o.settle;
        o.settle = null;
        if (o.timer) clearTimeout(o.timer);
        s(null);
      }
    }
  }
}
