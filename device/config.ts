/**
 * The gate's one configuration file (JSON), validated against device/config-schema.ts. A bad file
 * refuses to start the service with readable errors that name the field:
 *
 *   config: /gpio/relay/line must be integer ≤ 1023 (got "17a")
 *   config: /gpio/relai is not a known option (did you mean relay?)
 *   config: /gpio/relay/activeLow is required
 *
 * Defaults (from the schema) are filled in before validation, so the returned Config is complete.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { PassgateError } from '../base/errors.js';
import { CONFIG_SCHEMA, type Schema } from './config-schema.js';

export interface OutputLine {
  line: number;
  activeLow: boolean;
}

export type ScannerConfig =
  | { type: 'serial'; path: string; baud: number; aimQrOnly: boolean }
  | { type: 'hid'; vendorId: string; productId: string; mode: 'pos' | 'keyboard'; layout: 'us' | 'de' | 'fr' }
  | { type: 'simulated' };

export type IdReaderConfig = { type: 'serial'; path: string; baud: number; pollMs: number } | { type: 'simulated' };

export type CameraConfig =
  | { type: 'command'; command: string[]; repeatGapMs: number }
  | { type: 'files'; files: string[]; intervalMs: number; loop: boolean; repeatGapMs: number };

export interface GpioConfig {
  simulated: boolean;
  chip?: { label?: string; base?: number; sysfsRoot?: string };
  failMode: 'secure' | 'safe';
  relay: { line: number; activeLow: boolean };
  passage?: { line: number; normallyClosed: boolean; pull: 'up' | 'down'; debounceMs: number };
  fireAlarm?: { line: number; normallyClosed: boolean; pull: 'up' | 'down'; debounceMs: number };
  leds?: { green?: OutputLine; red?: OutputLine; amber?: OutputLine };
  buzzer?: OutputLine;
}

export interface GateConfig {
  passageTimeoutMs: number;
  maxPulseMs: number;
  busy: 'queue' | 'refuse';
  queueSize: number;
  staffHoldTimeoutMs: number;
  maxHolds: number;
  passageDebounceMs: number;
}

export interface MqttConfig {
  url: string;
  tls?: { ca?: string; cert?: string; key?: string };
  username?: string;
  passwordFile?: string;
  keepaliveSeconds: number;
}

export interface Config {
  dataDir: string;
  durability: 'full' | 'normal';
  clock: { trusted: 'auto' | 'system' | 'never'; rtc?: string };
  logging: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; output: 'journald' | 'file'; file: string };
  scanners: ScannerConfig[];
  idReader?: IdReaderConfig;
  camera?: CameraConfig;
  gpio: GpioConfig;
  gate: GateConfig;
  guardConsole: {
    enabled: boolean;
    host: string;
    port: number;
    allowedHosts: string[];
    tls?: { cert: string; key: string };
    idleMinutes: number;
    maxConnections: number;
    kiosk?: { guard: string; tokenFile: string };
  };
  mqtt?: MqttConfig;
  outbox: { maxEvents: number };
  metrics: { enabled: boolean; host: string; port: number };
}

/** A refused configuration: `problems` holds one readable line per fault. */
export class ConfigError extends PassgateError {
  constructor(readonly problems: string[]) {
    super('BAD_CONFIG', problems.join('\n'));
  }
}

const ajv = new Ajv({ allErrors: true, strict: true, discriminator: true, verbose: true, allowUnionTypes: true });
const validate = ajv.compile(CONFIG_SCHEMA);

/** Reads and validates a config file; throws ConfigError. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([`config: cannot read ${file} (${code})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`config: ${file} is not valid JSON: ${jsonWhere(text, (e as Error).message)}`]);
  }
  return parseConfig(value);
}

/** Validates a parsed config (defaults filled in on a copy); throws ConfigError. */
export function parseConfig(value: unknown): Config {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(['config: the file must hold one JSON object']);
  const filled = structuredClone(value) as Record<string, unknown>;
  fillDefaults(CONFIG_SCHEMA, filled);
  if (!validate(filled)) throw new ConfigError(describeErrors(validate.errors ?? []));
  const config = filled as unknown as Config;
  const problems = crossChecks(config);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

// --- defaults -------------------------------------------------------------------------------------

/** Writes schema defaults into missing properties, recursing into objects, arrays and the `type` variant. */
function fillDefaults(schema: Schema, value: unknown): void {
  if (Array.isArray(value)) {
    const items = schema.items as Schema | undefined;
    if (items) for (const v of value) fillDefaults(items, v);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  const variants = schema.oneOf as Schema[] | undefined;
  if (variants) {
    const chosen = variants.find((v) => ((v.properties as Record<string, Schema>).type as { const?: unknown }).const === obj.type);
    if (chosen) fillDefaults(chosen, obj);
  }
  for (const [k, sub] of Object.entries((schema.properties as Record<string, Schema> | undefined) ?? {})) {
    if (obj[k] === undefined && sub.default !== undefined) obj[k] = structuredClone(sub.default);
    if (obj[k] !== undefined) fillDefaults(sub, obj[k]);
  }
}

// --- readable errors ------------------------------------------------------------------------------

function describeErrors(errors: ErrorObject[]): string[] {
  const out = new Map<string, string>();
  // A failed variant also fails the oneOf itself: report the specific error only.
  const specific = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
  for (const e of specific.length ? specific : errors) {
    const [at, msg] = describeError(e);
    if (!out.has(at)) out.set(at, `config: ${at} ${msg}`);
  }
  return [...out.values()];
}

function describeError(e: ErrorObject): [string, string] {
  const at = e.instancePath === '' ? '/' : e.instancePath;
  const join = (k: string) => (at === '/' ? `/${k}` : `${at}/${k}`);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return [join(String(p.missingProperty)), 'is required'];
    case 'additionalProperties': {
      const name = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {}).filter((k) => k !== '$schema');
      const near = nearest(name, known);
      return [join(name), `is not a known option${near ? ` (did you mean ${near}?)` : ` (known: ${known.join(', ')})`}`];
    }
    case 'discriminator': {
      const variants = (e.parentSchema?.oneOf as Schema[] | undefined) ?? [];
      const tags = variants.map((v) => ((v.properties as Record<string, Schema>).type as { const: string }).const);
      if (p.error === 'tag' && (e.data as Record<string, unknown> | undefined)?.type === undefined) return [join('type'), `is required (one of ${tags.join(', ')})`];
      return [join('type'), `must be one of ${tags.join(', ')} (got ${shown((e.data as Record<string, unknown>).type)})`];
    }
    default:
      return [at, `must be ${expectation((e.parentSchema ?? {}) as Schema, e.data)} (got ${shown(e.data)})`];
  }
}

/** What a leaf schema accepts, in words: `integer ≤ 1023`, `one of queue, refuse`, `an absolute path`. */
function expectation(s: Schema, got: unknown): string {
  if (s.enum) return `one of ${(s.enum as unknown[]).join(', ')}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'integer' || s.type === 'number') {
    const bounds: string[] = [];
    // `≥ 0` goes without saying unless the value was negative.
    if (s.minimum !== undefined && !(s.minimum === 0 && !(typeof got === 'number' && got < 0))) bounds.push(`≥ ${String(s.minimum)}`);
    if (s.maximum !== undefined) bounds.push(`≤ ${String(s.maximum)}`);
    return `${String(s.type)}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  }
  if (s.type === 'string') {
    if (s.pattern === '^/') return 'an absolute path';
    if (s.pattern) return `a string matching ${String(s.pattern)}`;
    const len = [s.minLength !== undefined && `at least ${String(s.minLength)}`, s.maxLength !== undefined && `at most ${String(s.maxLength)}`].filter(Boolean);
    return `a string${len.length ? ` of ${len.join(' and ')} characters` : ''}`;
  }
  if (s.type === 'boolean') return 'true or false';
  if (s.type === 'array') {
    const n = [s.minItems !== undefined && `at least ${String(s.minItems)}`, s.maxItems !== undefined && `at most ${String(s.maxItems)}`].filter(Boolean);
    return `a list${n.length ? ` of ${n.join(' and ')} items` : ''}`;
  }
  if (s.type === 'object') return 'an object';
  return 'valid';
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  const t = JSON.stringify(v) ?? String(v);
  return t.length > 40 ? `${t.slice(0, 37)}…` : t;
}

function nearest(name: string, known: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function jsonWhere(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${message.replace(/ in JSON at position \d+.*$/, '')} at line ${line} column ${column}`;
}

// --- checks a schema cannot express ---------------------------------------------------------------

function crossChecks(c: Config): string[] {
  const problems: string[] = [];
  /** Each GPIO line and each device path has one user: a second one is a problem naming the first. */
  const usedOnce = <K extends number | string>() => {
    const users = new Map<K, string>();
    return (value: K | undefined, at: string) => {
      if (value === undefined) return;
      const other = users.get(value);
      if (other) problems.push(`config: ${at} ${value} is already used by ${other}`);
      else users.set(value, at);
    };
  };
  const claim = usedOnce<number>();
  const g = c.gpio;
  claim(g.relay.line, '/gpio/relay/line');
  claim(g.passage?.line, '/gpio/passage/line');
  claim(g.fireAlarm?.line, '/gpio/fireAlarm/line');
  for (const colour of ['green', 'red', 'amber'] as const) claim(g.leds?.[colour]?.line, `/gpio/leds/${colour}/line`);
  claim(g.buzzer?.line, '/gpio/buzzer/line');

  const device = usedOnce<string>();
  c.scanners.forEach((s, i) => device(s.type === 'serial' ? s.path : undefined, `/scanners/${i}/path`));
  device(c.idReader?.type === 'serial' ? c.idReader.path : undefined, '/idReader/path');

  if (c.gate.passageTimeoutMs < c.gate.maxPulseMs) {
    problems.push(`config: /gate/passageTimeoutMs must be ≥ /gate/maxPulseMs (${c.gate.maxPulseMs}) (got ${c.gate.passageTimeoutMs})`);
  }
  const tls = c.mqtt?.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) problems.push('config: /mqtt/tls needs both cert and key, or neither');
  if (c.mqtt?.url.startsWith('mqtt://') && tls) problems.push('config: /mqtt/url uses mqtt:// (no TLS) but /mqtt/tls is set: use mqtts://');
  return problems;
}
