/**
 * The MQTT wire contract of §7 in one typed module: every topic string is built and parsed here, and
 * every payload has its type and (for what arrives from the other side) its validator here. Nothing
 * else in the tree concatenates topic levels.
 *
 *   R = passgate/v1/{site}/{gate}   (one gate)
 *   S = passgate/v1/{site}          (every gate of a site)
 */
import { compileSchema } from '../device/core/schema.js';
import { PassgateError } from '../device/core/errors.js';
import { LIST_NAMES, type ListName } from '../device/core/types.js';
import type { EventType } from '../device/events.js';

export const TOPIC_ROOT = 'passgate/v1';

/** Site and gate ids become topic levels: no wildcards, separators or empties. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Gate ids that would collide with a site-wide topic (`S/trust`, `S/policy`, `S/lists/+`): a gate
 * named `lists` would receive its own `R/state` on `S/lists/+`.
 */
export const RESERVED_GATE_IDS: readonly string[] = ['trust', 'policy', 'lists'];

/** The per-gate topics, as the suffix after `R/`. */
export const GATE_TOPIC_KINDS = [
  'state',
  'status',
  'events',
  'events/ack',
  'sync/req',
  'sync/res',
  'lookup/req',
  'lookup/res',
  'cmd',
  'cmd/res',
] as const;
export type GateTopicKind = (typeof GATE_TOPIC_KINDS)[number];

export type ParsedTopic =
  | { scope: 'site'; site: string; kind: 'trust' | 'policy' }
  | { scope: 'site'; site: string; kind: 'list'; list: ListName }
  | { scope: 'gate'; site: string; gate: string; kind: GateTopicKind };

export function checkSiteId(site: string): string {
  if (!ID_PATTERN.test(site)) throw new PassgateError('BAD_CONFIG', `site id ${JSON.stringify(site)} must be 1–64 of A-Z a-z 0-9 _ -`);
  return site;
}

export function checkGateId(gate: string): string {
  if (!ID_PATTERN.test(gate)) throw new PassgateError('BAD_CONFIG', `gate id ${JSON.stringify(gate)} must be 1–64 of A-Z a-z 0-9 _ -`);
  if (RESERVED_GATE_IDS.includes(gate)) throw new PassgateError('BAD_CONFIG', `gate id ${gate} is reserved (${RESERVED_GATE_IDS.join(', ')})`);
  return gate;
}

/** Site-wide topics (`S/…`), and wildcards over a site's gates for the backend. */
export class SiteTopics {
  readonly root: string;
  readonly trust: string;
  readonly policy: string;
  /** `S/lists/+` */
  readonly listsWildcard: string;

  constructor(readonly site: string) {
    this.root = `${TOPIC_ROOT}/${checkSiteId(site)}`;
    this.trust = `${this.root}/trust`;
    this.policy = `${this.root}/policy`;
    this.listsWildcard = `${this.root}/lists/+`;
  }

  list(list: ListName): string {
    return `${this.root}/lists/${list}`;
  }

  /** `S/+/{kind}`: that topic of every gate of the site. */
  everyGate(kind: GateTopicKind): string {
    return `${this.root}/+/${kind}`;
  }

  gate(gate: string): GateTopics {
    return new GateTopics(this.site, gate);
  }
}

/** One gate's topics (`R/…`) plus the site-wide ones it subscribes to. */
export class GateTopics {
  readonly root: string;
  readonly siteTopics: SiteTopics;
  readonly state: string;
  readonly status: string;
  readonly events: string;
  readonly eventsAck: string;
  readonly syncReq: string;
  readonly syncRes: string;
  readonly lookupReq: string;
  readonly lookupRes: string;
  readonly cmd: string;
  readonly cmdRes: string;

  constructor(
    readonly site: string,
    readonly gate: string,
  ) {
    this.siteTopics = new SiteTopics(site);
    this.root = `${this.siteTopics.root}/${checkGateId(gate)}`;
    const t = (kind: GateTopicKind) => `${this.root}/${kind}`;
    this.state = t('state');
    this.status = t('status');
    this.events = t('events');
    this.eventsAck = t('events/ack');
    this.syncReq = t('sync/req');
    this.syncRes = t('sync/res');
    this.lookupReq = t('lookup/req');
    this.lookupRes = t('lookup/res');
    this.cmd = t('cmd');
    this.cmdRes = t('cmd/res');
  }

  of(kind: GateTopicKind): string {
    return `${this.root}/${kind}`;
  }

  /** What a gate subscribes to (all QoS 1): the site's documents and lists, and its own downlink. */
  downlink(): string[] {
    const s = this.siteTopics;
    return [s.trust, s.policy, s.listsWildcard, this.syncRes, this.eventsAck, this.lookupRes, this.cmd];
  }
}

/** Parses any passgate topic; null for anything that is not one (other roots, bad ids, unknown kinds). */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return null;
  const levels = topic.slice(TOPIC_ROOT.length + 1).split('/');
  const [site, second, third, fourth] = levels;
  if (site === undefined || !ID_PATTERN.test(site) || second === undefined || levels.length > 4) return null;
  if (levels.length === 2 && (second === 'trust' || second === 'policy')) return { scope: 'site', site, kind: second };
  if (levels.length === 3 && second === 'lists') {
    return (LIST_NAMES as readonly string[]).includes(third!) ? { scope: 'site', site, kind: 'list', list: third as ListName } : null;
  }
  if (!ID_PATTERN.test(second) || RESERVED_GATE_IDS.includes(second) || third === undefined) return null;
  const kind = fourth === undefined ? third : `${third}/${fourth}`;
  if (!(GATE_TOPIC_KINDS as readonly string[]).includes(kind)) return null;
  return { scope: 'gate', site, gate: second, kind: kind as GateTopicKind };
}

// --- payloads ------------------------------------------------------------------------------------

/** `R/state`, retained QoS 1. The will is `lost`; a clean stop publishes `offline`. */
export interface StatePayload {
  state: 'online' | 'offline' | 'lost';
  /** The gate's connection counter (raised on every connection attempt, kept across restarts). */
  session: number;
  tsMs: number;
  version: string;
}

/** One outbox event as on the wire (§7 "Event"); the type-specific fields ride along. */
export interface WireEvent {
  seq: number;
  id: string;
  tsMs: number;
  monoMs?: number;
  clockTrusted?: boolean;
  type: EventType;
  [field: string]: unknown;
}

/** `R/events`, QoS 1, not retained. Events in `seq` order. */
export interface EventsBatch {
  gate: string;
  session: number;
  events: WireEvent[];
}

/** `R/events/ack`, retained QoS 1: the backend has stored every event up to `upTo`. */
export interface EventsAck {
  upTo: number;
}

/** `R/sync/req`, QoS 1: the gate holds `have` of `list` and needs what follows (or a snapshot). */
export interface SyncRequest {
  list: ListName;
  have: number;
}

/** `R/lookup/req`, QoS 1: the id is also MQTT 5 correlation data; on 3.1.1 the body is all there is. */
export interface LookupRequest {
  id: string;
  holder: string;
}

/** `R/cmd/res`, QoS 1. `jti` is null only when a refused command could not be read at all. */
export type CommandResult = { jti: string | null; ok: true } | { jti: string | null; ok: false; error: string };

/**
 * The `system` event a gate records when bounded retention dropped events it could not deliver
 * (documented extension, see docs/mqtt-api.md): the backend counts `dropped.from…dropped.to` as
 * accounted for, so its contiguous ack can move past the hole.
 */
export interface EventsDroppedEvent extends WireEvent {
  type: 'system';
  what: 'events_dropped';
  dropped: { from: number; to: number; count: number };
}

export function isEventsDropped(e: WireEvent): e is EventsDroppedEvent {
  const d = (e as { dropped?: { from?: unknown; to?: unknown } }).dropped;
  return e.type === 'system' && e.what === 'events_dropped' && Number.isInteger(d?.from) && Number.isInteger(d?.to);
}

/** `R/status`, retained QoS 1: `gateStatus()` plus what the sync layer and the composition root add. */
export interface StatusPayload {
  tsMs: number;
  session: number;
  version: string;
  [field: string]: unknown;
}

// --- validation of what arrives ---------------------------------------------------------------------

/** Upper bounds per payload, checked before any parsing. A snapshot chunk is the big one. */
export const MAX_BYTES = {
  envelope: 32 * 1024 * 1024,
  ack: 256,
  syncRequest: 256,
  lookupRequest: 512,
  commandResult: 1024,
  state: 1024,
  events: 8 * 1024 * 1024,
  status: 256 * 1024,
} as const;

const seq = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const hex32 = { type: 'string', pattern: '^[0-9a-f]{32}$' };
const requestId = { type: 'string', minLength: 1, maxLength: 64 };

const ackSchema = compileSchema<EventsAck>('events ack', {
  type: 'object',
  required: ['upTo'],
  properties: { upTo: seq },
});
const syncRequestSchema = compileSchema<SyncRequest>('sync request', {
  type: 'object',
  required: ['list', 'have'],
  properties: { list: { enum: [...LIST_NAMES] }, have: seq },
});
const lookupRequestSchema = compileSchema<LookupRequest>('lookup request', {
  type: 'object',
  required: ['id', 'holder'],
  properties: { id: requestId, holder: hex32 },
});
const commandResultSchema = compileSchema<CommandResult>('command result', {
  type: 'object',
  required: ['jti', 'ok'],
  properties: {
    jti: { type: ['string', 'null'], maxLength: 64 },
    ok: { type: 'boolean' },
    error: { type: 'string', maxLength: 64 },
  },
});
const stateSchema = compileSchema<StatePayload>('state', {
  type: 'object',
  required: ['state', 'session', 'tsMs'],
  properties: {
    state: { enum: ['online', 'offline', 'lost'] },
    session: seq,
    tsMs: seq,
    version: { type: 'string', maxLength: 64 },
  },
});
const eventsSchema = compileSchema<EventsBatch>('events batch', {
  type: 'object',
  required: ['gate', 'session', 'events'],
  properties: {
    gate: { type: 'string', pattern: ID_PATTERN.source },
    session: seq,
    events: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        required: ['seq', 'id', 'tsMs', 'type'],
        properties: {
          seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          id: { type: 'string', minLength: 1, maxLength: 64 },
          tsMs: seq,
          type: { enum: ['decision', 'passage', 'override', 'command', 'alarm', 'system'] },
        },
      },
    },
  },
});

function text(payload: Buffer | string, max: number, what: string): string {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > max) throw new PassgateError('BAD_ENCODING', `${what}: ${size} bytes, at most ${max}`);
  if (typeof payload === 'string') return payload;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    throw new PassgateError('BAD_ENCODING', `${what}: not UTF-8`);
  }
}

function json(payload: Buffer | string, max: number, what: string): unknown {
  try {
    return JSON.parse(text(payload, max, what));
  } catch (e) {
    if (e instanceof PassgateError) throw e;
    throw new PassgateError('BAD_ENCODING', `${what}: not JSON`);
  }
}

/**
 * An envelope-carrying payload (`S/trust`, `S/policy`, `S/lists/+`, `R/sync/res`, `R/lookup/res`,
 * `R/cmd`) as text for ingestEnvelope: only size and UTF-8 are checked here, the envelope itself is
 * the ingest path's business (structure, typ, signer role, signature, payload schema).
 */
export function envelopeText(payload: Buffer | string): string {
  const t = text(payload, MAX_BYTES.envelope, 'envelope');
  if (t.length === 0) throw new PassgateError('BAD_ENCODING', 'envelope: empty payload');
  return t;
}

export const parseEventsAck = (p: Buffer | string): EventsAck => ackSchema(json(p, MAX_BYTES.ack, 'events ack'));
export const parseSyncRequest = (p: Buffer | string): SyncRequest => syncRequestSchema(json(p, MAX_BYTES.syncRequest, 'sync request'));
export const parseLookupRequest = (p: Buffer | string): LookupRequest => lookupRequestSchema(json(p, MAX_BYTES.lookupRequest, 'lookup request'));
export const parseState = (p: Buffer | string): StatePayload => stateSchema(json(p, MAX_BYTES.state, 'state'));
export const parseEventsBatch = (p: Buffer | string): EventsBatch => eventsSchema(json(p, MAX_BYTES.events, 'events batch'));

export function parseCommandResult(p: Buffer | string): CommandResult {
  const r = commandResultSchema(json(p, MAX_BYTES.commandResult, 'command result'));
  if (!r.ok && typeof (r as { error?: unknown }).error !== 'string') throw new PassgateError('BAD_ENCODING', 'command result: ok false needs error');
  return r;
}

export function parseStatus(p: Buffer | string): StatusPayload {
  const v = json(p, MAX_BYTES.status, 'status');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PassgateError('BAD_ENCODING', 'status: not an object');
  return v as StatusPayload;
}

/** Payloads are JSON text; one function so the encoding is decided in one place. */
export function encode(payload: unknown): string {
  return JSON.stringify(payload);
}
