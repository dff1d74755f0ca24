/**
 * docs/mqtt-api.md against the contract (sync/contract.ts): every topic kind is in the topic table;
 * the event-type and R/status tables list exactly the fields the types have; every JSON example
 * marked `<!-- contract: … -->` parses with the gate's own parsers and validators and shows no field
 * the contract does not have; and every publish in sync/ and the reference backend goes through the
 * contract's encoder. A field added to a type fails to compile until PAYLOAD_FIELDS / EVENT_FIELDS
 * name it, and then fails here until the document does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_FIELDS, PARSERS, PAYLOAD_FIELDS, type ContractPayloads, type TopicKind } from '../../sync/contract.js';
import { GATE_TOPIC_KINDS } from '../../sync/topics.js';
import { checkAck } from '../../device/core/ack.js';
import { checkCommand, parseLookupReply } from '../../device/core/command.js';
import { parseListPayload } from '../../device/core/lists.js';
import { REPO } from '../helpers/sync.js';

const DOC = readFileSync(join(REPO, 'docs/mqtt-api.md'), 'utf8');
type FieldTree = { readonly [k: string]: true | FieldTree };

/** The JSON examples marked `<!-- contract: MARKER -->`. */
function examples(): { marker: string; value: unknown; text: string }[] {
  const out: { marker: string; value: unknown; text: string }[] = [];
  for (const m of DOC.matchAll(/<!-- contract: ([^>]+?) -->\s*\n\s*```json\n([\s\S]*?)```/g)) {
    const text = m[2]!.replace(/^ {3}/gm, ''); // examples indented inside a list item
    out.push({ marker: m[1]!, value: JSON.parse(text), text });
  }
  return out;
}

/** The rows (cells) of the table that follows `<!-- contract: MARKER -->`, header and rule left out. */
function table(marker: string): string[][] {
  const at = DOC.indexOf(`<!-- contract: ${marker} -->`);
  expect(at, `table ${marker}`).toBeGreaterThanOrEqual(0);
  const lines = DOC.slice(at).split('\n').slice(1);
  const rows: string[][] = [];
  for (const l of lines) {
    if (!l.startsWith('|')) break;
    rows.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows.slice(2);
}

const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** Every path of a field tree: `a.b`, maps as `a.*.c`. */
function paths(tree: FieldTree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => (v === true ? [prefix + k] : paths(v, `${prefix}${k}.`)));
}

/** Keys of `value` (recursively, where the tree goes deeper) that the tree does not have. */
function unknownKeys(value: unknown, tree: FieldTree, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = tree[k] ?? tree['*'];
    if (sub === undefined) return [prefix + k];
    return sub === true ? [] : unknownKeys(v, sub, `${prefix}${k}.`);
  });
}

function eventVariant(e: Record<string, unknown>): keyof typeof EVENT_FIELDS {
  if (e.type !== 'system') return e.type as keyof typeof EVENT_FIELDS;
  return e.code === 'HOLD_EXPIRED' ? 'system HOLD_EXPIRED' : 'system events_dropped';
}

function checkEvent(e: Record<string, unknown>): void {
  const variant = eventVariant(e);
  expect(EVENT_FIELDS[variant], `event type ${String(e.type)}`).toBeDefined();
  expect(unknownKeys(e, EVENT_FIELDS[variant] as FieldTree), `fields of a ${variant} event`).toEqual([]);
}

/** How each marker's example is read: the gate's own parser or validator, then the field check. */
const READERS: Record<string, (text: string, value: Record<string, unknown>) => void> = {
  state: (t, v) => (PARSERS.state(t), expect(unknownKeys(v, PAYLOAD_FIELDS.state)).toEqual([])),
  status: (t, v) => (PARSERS.status(t), expect(unknownKeys(v, PAYLOAD_FIELDS.status as FieldTree)).toEqual([])),
  events: (t, v) => {
    PARSERS.events(t);
    expect(unknownKeys(v, { gate: true, session: true, events: true })).toEqual([]);
    for (const e of v.events as Record<string, unknown>[]) checkEvent(e);
  },
  event: (_t, v) => checkEvent(v),
  'sync/req': (t, v) => (PARSERS['sync/req'](t), expect(unknownKeys(v, PAYLOAD_FIELDS['sync/req'])).toEqual([])),
  'lookup/req': (t, v) => (PARSERS['lookup/req'](t), expect(unknownKeys(v, PAYLOAD_FIELDS['lookup/req'])).toEqual([])),
  'cmd/res': (t, v) => (PARSERS['cmd/res'](t), expect(unknownKeys(v, PAYLOAD_FIELDS['cmd/res'])).toEqual([])),
  'signed events/ack': (_t, v) => (checkAck(v, String(v.aud)), expect(unknownKeys(v, PAYLOAD_FIELDS['events/ack'])).toEqual([])),
  'signed cmd': (_t, v) => (checkCommand(v, String(v.aud), 0, false), expect(unknownKeys(v, PAYLOAD_FIELDS.cmd)).toEqual([])),
  'signed lookup/res': (_t, v) => (parseLookupReply(v), expect(unknownKeys(v, PAYLOAD_FIELDS['lookup/res'])).toEqual([])),
  'signed list': (_t, v) => void parseListPayload(v),
  'signed sync/res': (_t, v) => void parseListPayload(v),
};

describe('docs/mqtt-api.md and the contract', () => {
  it('lists every topic kind of the contract, and no other, in the topic table', () => {
    const section = DOC.slice(DOC.indexOf('## 3. Topics'));
    const topics = section
      .slice(0, section.indexOf('\n## ', 1))
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => ticked(l.split(/(?<!\\)\|/)[1]!)[0]!);
    const kinds = Object.keys(PARSERS) as TopicKind[];
    const expected = kinds.map((k) => (k === 'list' ? 'S/lists/{tokens\\|holders}' : k === 'trust' || k === 'policy' ? `S/${k}` : `R/${k}`));
    expect(new Set(topics)).toEqual(new Set(expected));
    expect(new Set(GATE_TOPIC_KINDS)).toEqual(new Set(kinds.filter((k) => !['trust', 'policy', 'list'].includes(k))));
  });

  it('documents every event type with exactly its fields', () => {
    const base = ['seq', 'id', 'tsMs', 'monoMs', 'clockTrusted', 'type'];
    for (const f of base) expect(DOC).toContain(`\`${f}\``);
    const rows = new Map(table('event types').map((r) => [ticked(r[0]!)[0]!, ticked(r[1]!).map((f) => f.replace(/\?$/, ''))]));
    expect(new Set(rows.keys())).toEqual(new Set(Object.keys(EVENT_FIELDS)));
    for (const [variant, fields] of Object.entries(EVENT_FIELDS)) {
      const own = Object.keys(fields).filter((f) => !base.includes(f));
      expect(new Set(rows.get(variant)), `fields of ${variant}`).toEqual(new Set(own));
    }
  });

  it('documents every R/status entry, and no other', () => {
    const documented = table('status fields').flatMap((r) => ticked(r[0]!));
    expect(new Set(documented)).toEqual(new Set(paths(PAYLOAD_FIELDS.status as FieldTree)));
  });

  it("parses every marked JSON example with the gate's own parsers and validators, with no field the contract lacks", () => {
    const all = examples();
    expect(new Set(all.map((e) => e.marker))).toEqual(new Set(Object.keys(READERS)));
    for (const { marker, value, text } of all) {
      const read = READERS[marker];
      expect(read, `a reader for ${marker}`).toBeDefined();
      read!(text, value as Record<string, unknown>);
    }
  });

  it('shows every field of every small payload in its examples', () => {
    const keysOf = (marker: string) => new Set(examples().filter((e) => e.marker === marker).flatMap((e) => Object.keys(e.value as object)));
    const kinds: [string, keyof typeof PAYLOAD_FIELDS][] = [
      ['state', 'state'],
      ['events', 'events'],
      ['sync/req', 'sync/req'],
      ['lookup/req', 'lookup/req'],
      ['cmd/res', 'cmd/res'],
      ['signed events/ack', 'events/ack'],
      ['signed cmd', 'cmd'],
      ['signed lookup/res', 'lookup/res'],
    ];
    for (const [marker, kind] of kinds) expect(keysOf(marker), marker).toEqual(new Set(Object.keys(PAYLOAD_FIELDS[kind])));
    // The status example shows every entry the table documents (maps by at least one key).
    const status = examples().find((e) => e.marker === 'status')!.value as Record<string, unknown>;
    for (const p of paths(PAYLOAD_FIELDS.status as FieldTree)) {
      const shown = (at: unknown, keys: string[]): boolean => {
        if (keys.length === 0) return at !== undefined;
        if (typeof at !== 'object' || at === null) return false;
        const [k, ...rest] = keys;
        return k === '*' ? Object.values(at).some((v) => shown(v, rest)) : shown((at as Record<string, unknown>)[k!], rest);
      };
      expect(shown(status, p.split('.')), `status example: ${p}`).toBe(true);
    }
  });

  it("publishes only through the contract's encoder (sync/ and the reference backend)", () => {
    const files = [
      ...readdirSync(join(REPO, 'sync')).map((f) => join('sync', f)),
      ...readdirSync(join(REPO, 'scripts/backend')).map((f) => join('scripts/backend', f)),
    ].filter((f) => f.endsWith('.ts') && f !== join('sync', 'connection.ts'));
    const bare: string[] = [];
    for (const f of files) {
      const src = readFileSync(join(REPO, f), 'utf8');
      for (const m of src.matchAll(/\.publish(?:Async)?\(([^,]+),\s*([^,]+),/g)) {
        const line = src.slice(0, m.index).split('\n').length;
        const inRaw = /publishRaw\([^)]*\)[^{]*\{[^}]*$/.test(src.slice(Math.max(0, m.index! - 300), m.index));
        if (!m[2]!.trim().startsWith('encodePayload(') && !inRaw) bare.push(`${f}:${line}`);
      }
    }
    expect(bare).toEqual([]);
  });
});

// Compile-time: the map from topic kind to payload covers every gate topic kind.
const _everyKind: Record<(typeof GATE_TOPIC_KINDS)[number], unknown> = {} as ContractPayloads;
void _everyKind;
