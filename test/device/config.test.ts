/** The configuration file: a good one passes, each kind of bad one is refused naming the field, docs in sync. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../device/config.js';
import { CONFIG_SCHEMA, DOC_BEGIN, DOC_END, optionRows, renderOptionsTable } from '../../device/config-schema.js';

const root = join(import.meta.dirname, '..', '..');
const EXAMPLE = join(root, 'systemd', 'config.pi.example.json');
const DOC = join(root, 'docs', 'configuration.md');

const minimal = () => ({ gpio: { relay: { line: 17, activeLow: true } } }) as Record<string, any>;

function problems(value: unknown): string[] {
  try {
    parseConfig(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('BAD_CONFIG');
    return (e as ConfigError).problems;
  }
  throw new Error('expected the config to be refused');
}

function withChange(change: (c: Record<string, any>) => void): Record<string, any> {
  const c = minimal();
  change(c);
  return c;
}

describe('good configuration', () => {
  it('the Pi example passes as shipped', () => {
    const c = loadConfig(EXAMPLE);
    expect(c.scanners).toEqual([{ type: 'serial', path: '/dev/ttyACM0', baud: 115200, aimQrOnly: false }]);
    expect(c.idReader).toEqual({ type: 'serial', path: '/dev/ttyUSB0', baud: 115200, pollMs: 250 });
    expect(c.gpio.relay).toEqual({ line: 17, activeLow: true });
    expect(c.gpio.passage).toEqual({ line: 27, normallyClosed: true, pull: 'up', debounceMs: 20 });
    expect(c.gpio.failMode).toBe('secure');
  });

  it('a minimal file gets every default', () => {
    const c = parseConfig(minimal());
    expect(c).toEqual({
      dataDir: '/var/lib/passgate',
      durability: 'full',
      clock: { trusted: 'auto' },
      logging: { level: 'info', output: 'journald', file: '/var/log/passgate/passgate.log' },
      scanners: [],
      gpio: { simulated: false, failMode: 'secure', relay: { line: 17, activeLow: true } },
      gate: { passageTimeoutMs: 5000, maxPulseMs: 1000, busy: 'queue', queueSize: 1, staffHoldTimeoutMs: 60000, maxHolds: 8, passageDebounceMs: 200 },
      guardConsole: { enabled: true, host: '127.0.0.1', port: 8088, allowedHosts: [], idleMinutes: 15, maxConnections: 128 },
      outbox: { maxEvents: 1000000 },
      metrics: { enabled: false, host: '127.0.0.1', port: 9464 },
    });
  });

  it('defaults reach into variants and optional sections; the input object is not modified', () => {
    const input = withChange((c) => {
      c.scanners = [{ type: 'hid', vendorId: '0c2e', productId: '0B61' }, { type: 'simulated' }];
      c.idReader = { type: 'simulated' };
      c.camera = { type: 'command', command: ['rpicam-vid', '-o', '-'] };
      c.gpio.fireAlarm = { line: 22 };
      c.gpio.leds = { green: { line: 5 }, red: { line: 6, activeLow: true } };
      c.mqtt = { url: 'mqtts://broker.example:8883', tls: { ca: '/etc/passgate/ca.pem', cert: '/etc/passgate/gate.pem', key: '/etc/passgate/gate.key' } };
    });
    const before = JSON.stringify(input);
    const c = parseConfig(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(c.scanners[0]).toEqual({ type: 'hid', vendorId: '0c2e', productId: '0B61', mode: 'pos', layout: 'us' });
    expect(c.camera).toEqual({ type: 'command', command: ['rpicam-vid', '-o', '-'], repeatGapMs: 1500 });
    expect(c.gpio.fireAlarm).toEqual({ line: 22, normallyClosed: true, pull: 'up', debounceMs: 50 });
    expect(c.gpio.leds).toEqual({ green: { line: 5, activeLow: false }, red: { line: 6, activeLow: true } });
    expect(c.mqtt!.keepaliveSeconds).toBe(30);
  });
});

describe('bad configuration is refused with a readable error naming the field', () => {
  it('wrong type', () => {
    expect(problems(withChange((c) => (c.gpio.relay.line = '17a')))).toEqual(['config: /gpio/relay/line must be integer ≤ 1023 (got "17a")']);
    expect(problems(withChange((c) => (c.gpio.relay.activeLow = 'yes')))).toEqual(['config: /gpio/relay/activeLow must be true or false (got "yes")']);
    expect(problems(withChange((c) => (c.scanners = { type: 'serial' })))).toEqual(['config: /scanners must be a list of at most 4 items (got {"type":"serial"})']);
  });

  it('out of range', () => {
    expect(problems(withChange((c) => (c.gate = { maxPulseMs: 5000 })))).toEqual(['config: /gate/maxPulseMs must be integer ≥ 50 and ≤ 2000 (got 5000)']);
    expect(problems(withChange((c) => (c.gpio.relay.line = -1)))).toEqual(['config: /gpio/relay/line must be integer ≥ 0 and ≤ 1023 (got -1)']);
    expect(problems(withChange((c) => (c.guardConsole = { port: 70000 })))).toEqual(['config: /guardConsole/port must be integer ≥ 1 and ≤ 65535 (got 70000)']);
    expect(problems(withChange((c) => (c.gate = { queueSize: 1.5 })))).toEqual(['config: /gate/queueSize must be integer ≥ 1 and ≤ 8 (got 1.5)']);
  });

  it('not one of the allowed values', () => {
    expect(problems(withChange((c) => (c.gate = { busy: 'wait' })))).toEqual(['config: /gate/busy must be one of queue, refuse (got "wait")']);
    expect(problems(withChange((c) => (c.gpio.failMode = 'fail-open')))).toEqual(['config: /gpio/failMode must be one of secure, safe (got "fail-open")']);
    expect(problems(withChange((c) => (c.clock = { trusted: true })))).toEqual(['config: /clock/trusted must be one of auto, system, never (got true)']);
  });

  it('unknown option, with a suggestion', () => {
    expect(problems(withChange((c) => (c.gpio.relai = { line: 17 })))).toEqual(['config: /gpio/relai is not a known option (did you mean relay?)']);
    expect(problems(withChange((c) => (c.passageTimeout = 5000)))[0]).toMatch(/^config: \/passageTimeout is not a known option \(known: .*gate.*\)$/);
  });

  it('missing required option', () => {
    expect(problems({})).toEqual(['config: /gpio is required']);
    expect(problems({ gpio: { relay: { line: 17 } } })).toEqual(['config: /gpio/relay/activeLow is required']);
    expect(problems(withChange((c) => (c.mqtt = {})))).toEqual(['config: /mqtt/url is required']);
  });

  it('variants chosen by type', () => {
    expect(problems(withChange((c) => (c.scanners = [{ type: 'usb' }])))).toEqual(['config: /scanners/0/type must be one of serial, hid, simulated (got "usb")']);
    expect(problems(withChange((c) => (c.scanners = [{ path: '/dev/ttyACM0' }])))).toEqual(['config: /scanners/0/type is required (one of serial, hid, simulated)']);
    expect(problems(withChange((c) => (c.scanners = [{ type: 'serial' }])))).toEqual(['config: /scanners/0/path is required']);
    expect(problems(withChange((c) => (c.scanners = [{ type: 'hid', vendorId: 'zz', productId: '0b61' }])))).toEqual([
      'config: /scanners/0/vendorId must be a string matching ^(0x)?[0-9a-fA-F]{4}$ (got "zz")',
    ]);
    expect(problems(withChange((c) => (c.idReader = { type: 'serial', path: '/dev/ttyUSB0', pollMs: 10 })))).toEqual([
      'config: /idReader/pollMs must be integer ≥ 50 and ≤ 5000 (got 10)',
    ]);
  });

  it('paths must be absolute', () => {
    expect(problems(withChange((c) => (c.dataDir = 'var/lib/passgate')))).toEqual(['config: /dataDir must be an absolute path (got "var/lib/passgate")']);
  });

  it('every fault is listed, not just the first', () => {
    const p = problems(withChange((c) => {
      c.gate = { busy: 'wait', maxPulseMs: 0 };
      c.durability = 'fast';
    }));
    expect(p).toHaveLength(3);
  });

  it('checks a schema cannot express', () => {
    expect(problems(withChange((c) => (c.gpio.passage = { line: 17 })))).toEqual(['config: /gpio/passage/line 17 is already used by /gpio/relay/line']);
    expect(
      problems(withChange((c) => {
        c.scanners = [{ type: 'serial', path: '/dev/ttyUSB0' }];
        c.idReader = { type: 'serial', path: '/dev/ttyUSB0' };
      })),
    ).toEqual(['config: /idReader/path /dev/ttyUSB0 is already used by /scanners/0/path']);
    expect(problems(withChange((c) => (c.gate = { passageTimeoutMs: 1000, maxPulseMs: 2000 })))).toEqual([
      'config: /gate/passageTimeoutMs must be ≥ /gate/maxPulseMs (2000) (got 1000)',
    ]);
    expect(problems(withChange((c) => (c.mqtt = { url: 'mqtts://b:8883', tls: { cert: '/etc/passgate/gate.pem' } })))).toEqual([
      'config: /mqtt/tls needs both cert and key, or neither',
    ]);
  });

  it('a file that is not JSON, not there, or not an object', () => {
    const dir = mkdtempSync(join(tmpdir(), 'passgate-config-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{\n  "gpio": {\n    "relay": { "line": 17, }\n  }\n}\n');
    expect(() => loadConfig(bad)).toThrow(/is not valid JSON: .* at line 3 column/);
    expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json \(ENOENT\)/);
    expect(problems([1, 2])).toEqual(['config: the file must hold one JSON object']);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('documentation', () => {
  it('every option states its range (where it has one) and its default (or that it is required/optional) in its description', () => {
    for (const r of optionRows()) {
      expect(r.description, r.path).not.toBe('');
    }
    const leaves = optionRows().filter((r) => !['object', 'array', ''].includes(r.type) && !r.path.endsWith('.type'));
    for (const r of leaves) {
      expect(r.description, r.path).toMatch(/default |required|optional/i);
      const [lo, hi] = r.range.split('–');
      if (r.type === 'integer') expect(r.description, r.path).toContain(`Range ${lo}–${hi}`);
      if (r.dflt) expect(r.description.toLowerCase(), r.path).toContain(`default ${r.dflt.replace(/`/g, '')}`.toLowerCase());
    }
  });

  it('docs/configuration.md carries the current options table (UPDATE_DOCS=1 to rewrite)', () => {
    const doc = readFileSync(DOC, 'utf8');
    const begin = doc.indexOf(DOC_BEGIN);
    const end = doc.indexOf(DOC_END);
    expect(begin, 'generated-block markers').toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(begin);
    const current = doc.slice(begin, end + DOC_END.length);
    const wanted = renderOptionsTable();
    if (process.env.UPDATE_DOCS && current !== wanted) {
      writeFileSync(DOC, doc.slice(0, begin) + wanted + doc.slice(end + DOC_END.length));
      return;
    }
    expect(current, 'docs/configuration.md is out of date: run UPDATE_DOCS=1 npx vitest run test/device/config.test.ts').toBe(wanted);
  });

  it('every schema property appears in the docs', () => {
    const doc = readFileSync(DOC, 'utf8');
    const names = new Set<string>();
    const collect = (s: Record<string, any>) => {
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if (k !== '$schema') names.add(k);
        collect(v as Record<string, any>);
      }
      for (const v of s.oneOf ?? []) collect(v);
      if (s.items) collect(s.items);
    };
    collect(CONFIG_SCHEMA);
    for (const n of names) expect(doc, n).toMatch(new RegExp(`\`[^\`]*\\b${n}\\b[^\`]*\``));
  });
});

describe('the Raspberry Pi example in the README', () => {
  it('is the example file, and passes the schema', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## On a Raspberry Pi[\s\S]*?```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(JSON.parse(block!)).toEqual(JSON.parse(readFileSync(EXAMPLE, 'utf8')));
    expect(() => parseConfig(JSON.parse(block!))).not.toThrow();
  });
});
