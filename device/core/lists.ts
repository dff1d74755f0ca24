/** List deltas and snapshot chunks (§5): validation and the version rules, without storage. */
import type { ListName } from './types.js';
import { compileSchema } from './schema.js';
import { PassgateError } from '../../base/errors.js';

/** `[key, s, at, until]` as on the wire. */
export type WireEntry = [string, 0 | 1 | 2 | 3, number, number];

export interface ListDelta {
  list: ListName;
  from: number;
  to: number;
  put: WireEntry[];
  del: string[];
}

export interface SnapshotChunk {
  list: ListName;
  snapshot: number;
  chunk: number;
  chunks: number;
  count: number;
  put: WireEntry[];
}

const key = { type: 'string', pattern: '^[0-9a-f]{32}$' };
const time = { type: 'integer', minimum: 0 };
const entry = {
  type: 'array',
  minItems: 4,
  maxItems: 4,
  items: [key, { enum: [0, 1, 2, 3] }, time, time],
  additionalItems: false,
};
const list = { enum: ['tokens', 'holders'] };
const version = { type: 'integer', minimum: 0 };

const validateDelta = compileSchema<ListDelta>('list delta', {
  type: 'object',
  required: ['list', 'from', 'to'],
  properties: { list, from: version, to: version, put: { type: 'array', items: entry }, del: { type: 'array', items: key } },
});

const validateChunk = compileSchema<SnapshotChunk>('snapshot chunk', {
  type: 'object',
  required: ['list', 'snapshot', 'chunk', 'chunks', 'count', 'put'],
  properties: {
    list,
    snapshot: { type: 'integer', minimum: 1 },
    chunk: { type: 'integer', minimum: 0 },
    chunks: { type: 'integer', minimum: 1, maximum: 100000 },
    count: { type: 'integer', minimum: 0 },
    put: { type: 'array', items: entry },
  },
});

/** A `passgate-list+json` payload is a snapshot chunk when it names a snapshot, else a delta. */
export function parseListPayload(payload: unknown): { kind: 'delta'; delta: ListDelta } | { kind: 'chunk'; chunk: SnapshotChunk } {
  if (typeof payload === 'object' && payload !== null && 'snapshot' in payload) {
    const chunk = validateChunk(payload);
    if (chunk.chunk >= chunk.chunks) throw new PassgateError('BAD_ENCODING', 'snapshot chunk: chunk index beyond chunks');
    return { kind: 'chunk', chunk };
  }
  const delta = validateDelta(payload);
  if (delta.to <= delta.from) throw new PassgateError('BAD_ENCODING', 'list delta: to must exceed from');
  return { kind: 'delta', delta: { ...delta, put: delta.put ?? [], del: delta.del ?? [] } };
}

export type DeltaVerdict = 'apply' | 'duplicate' | 'gap';

/**
 * §5: apply iff `from` equals the version held; `to` ≤ held is a duplicate; anything else (a gap, or
 * a delta straddling the held version) cannot be applied safely and needs a resync.
 */
export function classifyDelta(held: number, delta: Pick<ListDelta, 'from' | 'to'>): DeltaVerdict {
  if (delta.to <= held) return 'duplicate';
  if (delta.from === held) return 'apply';
  return 'gap';
}
