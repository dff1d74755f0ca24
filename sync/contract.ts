/**
 * The MQTT contract of §7, typed in both directions: for every topic kind, the payload that travels
 * on it (`ContractPayloads`), which side sends it, and — for what arrives from the other side — its
 * parser. The gate and the reference backend publish only through `encodePayload` (via
 * GateConnection.send / the backend's front) and parse only through `parsePayload`; docs/mqtt-api.md
 * is tested against `PAYLOAD_FIELDS` below (test/sync/contract-doc.test.ts), so the three cannot drift.
 *
 * Envelope-carrying kinds travel as the envelope's JSON text; what is inside once it verified is
 * `SignedPayloads` (the ingest path checks the signature before anything else).
 */
import { compileSchema } from '../device/core/schema.js';
import { PassgateError } from '../base/errors.js';
import { LIST_NAMES, type ListName } from '../device/core/types.js';
import type { EnvelopeType } from '../device/core/envelope.js';
import type { Command, LookupReply } from '../device/core/signed-command.js';
import type { EventsAck } from '../device/core/ack.js';
import type { ModeOverride } from '../device/core/mode.js';
import type { TrustBundle } from '../device/core/trust.js';
import type { Policy } from '../device/core/types.js';
import type { ListDelta, SnapshotChunk } from '../device/core/lists.js';
import type { gateStatus } from '../device/status.js';
import type { GateController } from '../device/gate/controller.js';
import type { PartHealth } from '../device/service.js';
import { EVENT_TYPES, type GateEvent, type EventsDroppedEvent } from '../device/events.js';
import { ID_PATTERN, type GateTopicKind } from './topics.js';

export type { EventsAck, Command, LookupReply };

// --- payload types ---------------------------------------------------------------------------------

/** A signed envelope (§4) as it travels: its JSON text, passed through untouched. */
export type EnvelopeText = string;

/** A list envelope holds a delta or one snapshot chunk (§5). */
export type ListPayload = ListDelta | SnapshotChunk;

/** `R/state`, retained. The will is `lost`; a clean stop publishes `offline`. */
export interface StatePayload {
  state: 'online' | 'offline' | 'lost';
  /** The gate's connection counter (raised on every connection attempt, kept across restarts). */
  session: number;
  /**
   * When the message was composed: for `online` and `offline` the moment of publishing; for the
   * `lost` will the moment its connection was opened (a will is composed at CONNECT and published
   * by the broker later, unchanged). When the gate was lost is the broker's delivery time.
   */
  tsMs: number;
  version: string;
}

/** One outbox event on the wire: §7's event with its `seq`. */
export type WireEvent = GateEvent & { seq: number };

/** `R/events`. Events in `seq` order. */
export interface EventsBatch {
  gate: string;
  session: number;
  events: WireEvent[];
}

/** `R/sync/req`: the gate holds `have` of `list` and needs what follows (or a snapshot). */
export interface SyncRequest {
  list: ListName;
  have: number;
}

/** `R/lookup/req`: the id is also MQTT 5 correlation data; on 3.1.1 the body is all there is. */
export interface LookupRequest {
  id: string;
  holder: string;
}

/** `R/cmd/res`. Sent only for a command whose envelope verified; `jti` null when its payload had none. */
export type CommandResult = { jti: string | null; ok: true } | { jti: string | null; ok: false; error: string };

/** The outbox publisher's counters (R/status `outbox.publisher`). */
export interface OutboxCounters {
  ackedUpTo: number;
  sentUpTo: number;
  batchesInFlight: number;
  batches: number;
  events: number;
  resends: number;
  /** Acks that verified and were applied (whether they deleted anything or not). */
  acks: number;
  /** Acks refused: not verifying, for another gate, or beyond the last seq (see `refusals`). */
  ignoredAcks: number;
  dropped: number;
}

/** Online look-up counters (R/status `lookup`). */
export interface LookupCounters {
  requests: number;
  answered: number;
  timeouts: number;
  offline: number;
  cached: number;
  ignored: number;
}

/** Command counters (R/status `commands`). `unverified`: envelopes that did not verify (no event, no reply). */
export interface CommandCounters {
  received: number;
  ok: number;
  refused: number;
  unverified: number;
}

/** The gate machine's state as R/status shows it (extension). */
export type GateSnapshot = ReturnType<GateController['snapshot']>;

/**
 * `R/status` `hardware` (extension): the gate machine's state and the health of every part the
 * service runs (relay, passage sensor, fire alarm, each scanner and reader by name, the link, the
 * guard console). Null when the link runs without a gate service (gate-sim, tests).
 */
export interface HardwareStatus {
  gate: GateSnapshot;
  health: Record<string, PartHealth>;
}

type StoreStatus = ReturnType<typeof gateStatus>;

/** `R/status`, retained: `passgate status` plus the sync layer's counters and the hardware block. */
export interface StatusPayload extends Omit<StoreStatus, 'outbox'> {
  tsMs: number;
  session: number;
  version: string;
  mqtt: { protocolVersion: 4 | 5 | null };
  outbox: StoreStatus['outbox'] & { publisher: OutboxCounters };
  refusals: {
    total: number;
    byCode: Record<string, number>;
    /** Per topic kind (`cmd`, `events/ack`, `trust`, `policy`, `lists`, `sync/res`, `lookup/res`). */
    byKind: Record<string, number>;
    last: { code: string; topic: string; atMs: number } | null;
  };
  commands: CommandCounters;
  modeOverride: ModeOverride | null;
  lookup: LookupCounters;
  hardware: HardwareStatus | null;
}

/** The payload of every topic kind, as it travels. `list` is `S/lists/{list}`. */
export interface ContractPayloads {
  state: StatePayload;
  status: StatusPayload;
  events: EventsBatch;
  'events/ack': EnvelopeText;
  'sync/req': SyncRequest;
  'sync/res': EnvelopeText;
  'lookup/req': LookupRequest;
  'lookup/res': EnvelopeText;
  cmd: EnvelopeText;
  'cmd/res': CommandResult;
  trust: EnvelopeText;
  policy: EnvelopeText;
  list: EnvelopeText;
}
export type TopicKind = keyof ContractPayloads;
export type SiteTopicKind = 'trust' | 'policy' | 'list';

/** What a verified envelope on each envelope-carrying kind holds. */
export interface SignedPayloads {
  'events/ack': EventsAck;
  'sync/res': ListPayload;
  'lookup/res': LookupReply;
  cmd: Command;
  trust: TrustBundle;
  policy: Policy;
  list: ListPayload;
}
export type EnvelopeKind = keyof SignedPayloads;

/** The envelope `typ` each envelope-carrying kind must have (§4: a gate rejects one that does not fit). */
export const ENVELOPE_TYP: { readonly [K in EnvelopeKind]: EnvelopeType } = {
  'events/ack': 'passgate-ack+json',
  'sync/res': 'passgate-list+json',
  'lookup/res': 'passgate-lookup+json',
  cmd: 'passgate-cmd+json',
  trust: 'passgate-trust+json',
  policy: 'passgate-policy+json',
  list: 'passgate-list+json',
};

/** Gate → backend. */
export const UPLINK_KINDS = ['state', 'status', 'events', 'sync/req', 'lookup/req', 'cmd/res'] as const satisfies readonly GateTopicKind[];
export type UplinkKind = (typeof UPLINK_KINDS)[number];
/** Backend → one gate (`R/…`). */
export const GATE_DOWNLINK_KINDS = ['events/ack', 'sync/res', 'lookup/res', 'cmd'] as const satisfies readonly GateTopicKind[];
export type GateDownlinkKind = (typeof GATE_DOWNLINK_KINDS)[number];
/** Backend → every gate of a site (`S/…`). */
export const SITE_KINDS = ['trust', 'policy', 'list'] as const satisfies readonly SiteTopicKind[];

/** Retained kinds (§7's table). */
export const RETAINED: readonly TopicKind[] = ['state', 'status', 'events/ack', 'trust', 'policy'];

// --- validation of what arrives ---------------------------------------------------------------------

/** Upper bounds per payload, checked before any parsing. A snapshot chunk is the big one. */
export const MAX_BYTES = {
  envelope: 32 * 1024 * 1024,
  ack: 4096,
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
const counters = (names: readonly string[]) => ({
  type: 'object',
  required: [...names],
  properties: Object.fromEntries(names.map((n) => [n, seq])),
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
          type: { enum: [...EVENT_TYPES] },
        },
      },
    },
  },
});
// Status is for display and monitoring: the parts a backend acts on are checked, the rest passes.
const statusSchema = compileSchema<StatusPayload>('status', {
  type: 'object',
  required: ['tsMs', 'session', 'version'],
  properties: {
    tsMs: seq,
    session: seq,
    version: { type: 'string', maxLength: 64 },
    site: { type: ['string', 'null'] },
    gate: { type: ['string', 'null'] },
    outbox: { type: 'object', properties: { depth: seq, lastSeq: seq, publisher: counters([]) } },
    commands: counters([]),
    hardware: {
      type: ['object', 'null'],
      required: ['gate', 'health'],
      properties: {
        gate: {
          type: 'object',
          required: ['phase', 'relay'],
          properties: {
            phase: { enum: ['start', 'idle', 'pulse', 'passage', 'settle', 'alarm', 'stopped'] },
            relay: { enum: ['active', 'inactive'] },
            indicator: { enum: ['off', 'ready', 'open', 'alarm', 'deny', 'hold', 'busy'] },
          },
        },
        health: { type: 'object', additionalProperties: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } } } },
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
 * An envelope-carrying payload as text for the ingest path: only size and UTF-8 are checked here,
 * the envelope itself is the ingest path's business (structure, typ, signer role, signature, payload).
 */
export function envelopeText(payload: Buffer | string): EnvelopeText {
  const t = text(payload, MAX_BYTES.envelope, 'envelope');
  if (t.length === 0) throw new PassgateError('BAD_ENCODING', 'envelope: empty payload');
  return t;
}

function commandResult(p: Buffer | string): CommandResult {
  const r = commandResultSchema(json(p, MAX_BYTES.commandResult, 'command result'));
  if (!r.ok && typeof (r as { error?: unknown }).error !== 'string') throw new PassgateError('BAD_ENCODING', 'command result: ok false needs error');
  return r;
}

/** The parser of every topic kind: the one way a payload is read. */
export const PARSERS: { readonly [K in TopicKind]: (p: Buffer | string) => ContractPayloads[K] } = {
  state: (p) => stateSchema(json(p, MAX_BYTES.state, 'state')),
  status: (p) => statusSchema(json(p, MAX_BYTES.status, 'status')),
  events: (p) => eventsSchema(json(p, MAX_BYTES.events, 'events batch')),
  'events/ack': (p) => text(p, MAX_BYTES.ack, 'events ack'),
  'sync/req': (p) => syncRequestSchema(json(p, MAX_BYTES.syncRequest, 'sync request')),
  'sync/res': envelopeText,
  'lookup/req': (p) => lookupRequestSchema(json(p, MAX_BYTES.lookupRequest, 'lookup request')),
  'lookup/res': envelopeText,
  cmd: envelopeText,
  'cmd/res': commandResult,
  trust: envelopeText,
  policy: envelopeText,
  list: envelopeText,
};

export function parsePayload<K extends TopicKind>(kind: K, payload: Buffer | string): ContractPayloads[K] {
  return PARSERS[kind](payload);
}

/** The one encoder: JSON for plain payloads, the envelope text as it is for envelope kinds. */
export function encodePayload<K extends TopicKind>(kind: K, payload: ContractPayloads[K]): string {
  return kind in ENVELOPE_TYP ? (payload as string) : JSON.stringify(payload);
}

export const parseSyncRequest = PARSERS['sync/req'];
export const parseLookupRequest = PARSERS['lookup/req'];
export const parseState = PARSERS.state;
export const parseStatus = PARSERS.status;
export const parseEventsBatch = PARSERS.events;
export const parseCommandResult = PARSERS['cmd/res'];

export function isEventsDropped(e: WireEvent): e is EventsDroppedEvent & { seq: number } {
  const d = (e as { dropped?: { from?: unknown; to?: unknown } }).dropped;
  return e.type === 'system' && (e as { what?: unknown }).what === 'events_dropped' && Number.isInteger(d?.from) && Number.isInteger(d?.to);
}

// --- the fields of every payload, for the document -------------------------------------------------

/**
 * Every field of a payload type, nested where the document describes the inner fields. The type makes
 * the list exhaustive (a field added to a payload type and not here fails to compile);
 * test/sync/contract-doc.test.ts checks that docs/mqtt-api.md names each one and that its examples
 * use no other. `'*'` stands for the keys of a map (counts by code, parts by name).
 */
export type Fields<T> = { readonly [K in keyof T]-?: true | Inner<NonNullable<T[K]>> };
type Inner<V> = V extends readonly unknown[]
  ? never
  : V extends object
    ? string extends keyof V
      ? { readonly '*': true | Inner<V[string & keyof V]> }
      : Fields<V>
    : never;

const fields = <T>(f: Fields<T>): Fields<T> => f;

type Variant<T extends GateEvent['type'], E = GateEvent> = E extends { type: T } ? E : never;
const base = { seq: true, id: true, tsMs: true, monoMs: true, clockTrusted: true, type: true } as const;

/** The fields of every event type (§7 plus extensions), by type and variant. */
export const EVENT_FIELDS = {
  decision: fields<Variant<'decision'> & { seq: number }>({
    ...base,
    input: true,
    format: true,
    issuer: true,
    handle: true,
    result: true,
    reason: true,
    status: true,
    versions: { trust: true, policy: true, tokens: true, holders: true },
    latencyUs: true,
    mode: true,
  }),
  passage: fields<Variant<'passage'> & { seq: number }>({ ...base, ref: true, via: true, outcome: true, afterMs: true, why: true }),
  override: fields<Variant<'override'> & { seq: number }>({
    ...base,
    ref: true,
    result: true,
    reason: true,
    actor: true,
    input: true,
    format: true,
    issuer: true,
    handle: true,
    heldMs: true,
    note: true,
    manual: true,
  }),
  command: fields<Variant<'command'> & { seq: number }>({ ...base, cmd: true, actor: true, jti: true, ok: true, error: true }),
  alarm: fields<Variant<'alarm'> & { seq: number }>({ ...base, active: true, failMode: true, relay: true }),
  'system HOLD_EXPIRED': fields<Extract<Variant<'system'>, { code: 'HOLD_EXPIRED' }> & { seq: number }>({ ...base, code: true, ref: true, why: true }),
  'system events_dropped': fields<EventsDroppedEvent & { seq: number }>({ ...base, what: true, dropped: { from: true, to: true, count: true } }),
} as const;

/** The fields of every plain (non-envelope) payload and of what every envelope holds. */
export const PAYLOAD_FIELDS = {
  state: fields<StatePayload>({ state: true, session: true, tsMs: true, version: true }),
  events: fields<EventsBatch>({ gate: true, session: true, events: true }),
  'sync/req': fields<SyncRequest>({ list: true, have: true }),
  'lookup/req': fields<LookupRequest>({ id: true, holder: true }),
  'cmd/res': fields<{ jti: string | null; ok: boolean; error: string }>({ jti: true, ok: true, error: true }),
  'events/ack': fields<EventsAck>({ aud: true, upTo: true, iat: true }),
  'lookup/res': fields<LookupReply>({ id: true, holder: true, s: true, at: true }),
  cmd: fields<Command>({ aud: true, cmd: true, args: true, actor: true, iat: true, exp: true, jti: true, ctr: true }),
  status: fields<StatusPayload>({
    site: true,
    gate: true,
    initialised: true,
    clock: { trusted: true, nowMs: true, reason: true, mode: true, floorMs: true, behindFloor: true, synchronised: true },
    trust: { version: true, ageSeconds: true, expiresAt: true, stale: true, issuers: true, keysLeftOut: true },
    policy: { version: true, ageSeconds: true, defaults: true },
    lists: { tokens: { version: true, ageSeconds: true, entries: true }, holders: { version: true, ageSeconds: true, entries: true } },
    outbox: {
      depth: true,
      oldestAgeSeconds: true,
      lastSeq: true,
      publisher: {
        ackedUpTo: true,
        sentUpTo: true,
        batchesInFlight: true,
        batches: true,
        events: true,
        resends: true,
        acks: true,
        ignoredAcks: true,
        dropped: true,
      },
    },
    tsMs: true,
    session: true,
    version: true,
    mqtt: { protocolVersion: true },
    refusals: { total: true, byCode: { '*': true }, byKind: { '*': true }, last: { code: true, topic: true, atMs: true } },
    commands: { received: true, ok: true, refused: true, unverified: true },
    modeOverride: { mode: true, untilMs: true, setAtMs: true, actor: true, jti: true },
    lookup: { requests: true, answered: true, timeouts: true, offline: true, cached: true, ignored: true },
    hardware: {
      gate: { phase: true, alarm: true, queued: true, holds: true, relay: true, indicator: true },
      health: { '*': { ok: true, critical: true, detail: true, unhealthySince: true } },
    },
  }),
} as const;

// Compile-time: every event type has its fields above (a new type fails here until it does).
type TypeOfVariant<K> = K extends `${infer T} ${string}` ? T : K;
const everyEventType: Record<GateEvent['type'], true> = {} as Record<TypeOfVariant<keyof typeof EVENT_FIELDS>, true>;
void everyEventType;
