/** The ground floor: error codes in ranges per area, the one Logger, and that base/ imports nothing of the project. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ERROR_NUMBERS, errorArea, isResourceExhaustion, PassgateError, deviceError, type ErrorCode } from '../../base/errors.js';
import { moduleLogger, RateLimitedLog, SILENT, type Logger } from '../../base/log.js';
import { checkInteger, checkRange } from '../../base/check.js';
import { Backoff } from '../../base/backoff.js';

const ROOT = join(import.meta.dirname, '../..');

describe('errors', () => {
  it('every code has its own number, in its area: config 1xx, driver 2xx, store 3xx, link 4xx, envelope 5xx', () => {
    const numbers = Object.values(ERROR_NUMBERS);
    expect(new Set(numbers).size).toBe(numbers.length);
    const area = (c: ErrorCode) => errorArea(ERROR_NUMBERS[c]);
    expect(area('BAD_CONFIG')).toBe('config');
    expect(['DRIVER_CLOSED', 'DEVICE_IO', 'RESOURCE_EXHAUSTED', 'LINE_IN_USE'].map((c) => area(c as ErrorCode))).toEqual(['driver', 'driver', 'driver', 'driver']);
    expect(area('STORE_FAILED')).toBe('store');
    expect(area('LINK_TIMEOUT')).toBe('link');
    expect(['BAD_ENCODING', 'DOWNGRADE', 'REPLAYED'].map((c) => area(c as ErrorCode))).toEqual(['envelope', 'envelope', 'envelope']);
  });

  it('the table in docs/errors.md is the table in base/errors.ts', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    for (const [code, n] of Object.entries(ERROR_NUMBERS)) expect(doc).toContain(`| ${n} | \`${code}\` |`);
  });

  it('carries the string code and the number; device errors say whether the process is short of something', () => {
    const e = new PassgateError('LINE_IN_USE', 'GPIO line 17 is already in use');
    expect([e.code, e.number, e.area]).toEqual(['LINE_IN_USE', 203, 'driver']);
    expect(e.message).toBe('GPIO line 17 is already in use (LINE_IN_USE PG203)');
    const emfile = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    expect(deviceError(emfile, 'open').code).toBe('RESOURCE_EXHAUSTED');
    expect(deviceError(Object.assign(new Error('EIO'), { code: 'EIO' }), 'write').code).toBe('DEVICE_IO');
    expect(isResourceExhaustion(new Error('Too many open files, cannot open /dev/ttyACM0'))).toBe(true); // bindings-cpp: no code
    expect(isResourceExhaustion(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
  });

  it('range checks name the option and its range (BAD_CONFIG)', () => {
    expect(() => checkRange('broker.keepaliveSeconds', 2, 5, 600)).toThrow('broker.keepaliveSeconds must be between 5 and 600, got 2 (BAD_CONFIG PG100)');
    expect(() => checkInteger('outbox.batch', 1.5, 1, 500)).toThrow(/outbox.batch must be an integer between 1 and 500, got 1.5/);
    expect(() => new Backoff({ initialMs: 0 }, Math.random, 'broker.reconnect.')).toThrow(/broker.reconnect.initialMs must be between/);
  });
});

describe('the one Logger', () => {
  it('a pino logger is a Logger, and module children carry the one key `mod`', () => {
    const lines: string[] = [];
    const root = pino({ base: null }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const log: Logger = root;
    moduleLogger(log, 'sync:outbox').info({ seq: 1 }, 'published');
    expect(JSON.parse(lines[0]!)).toMatchObject({ mod: 'sync:outbox', seq: 1, msg: 'published' });
    expect(moduleLogger(SILENT, 'gpio')).toBe(SILENT);
  });

  it('RateLimitedLog: one line per period per condition, with the count of those it held back', () => {
    let t = 0;
    const got: Array<[object, string | undefined]> = [];
    const log = { ...SILENT, warn: (o: object, m?: string) => void got.push([o, m]) };
    const limited = new RateLimitedLog(log, 1000, () => t);
    for (let i = 0; i < 50; i++, t += 100) limited.warn('resource exhausted', { n: i });
    expect(got.map(([, m]) => m)).toEqual(Array(5).fill('resource exhausted'));
    expect(got[1]![0]).toMatchObject({ suppressed: 9 });
  });
});

describe('layers', () => {
  it('base/ imports nothing of the project; drivers/ imports nothing from device/, sync/, app/ or scripts/', () => {
    const files = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
        .filter((f) => f.isFile() && f.name.endsWith('.ts'))
        .map((f) => join(f.parentPath, f.name));
    const imports = (file: string) => [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
    for (const f of files('base')) expect(imports(f).filter((i) => i.startsWith('.') && !i.startsWith('./')), f).toEqual([]);
    for (const f of files('drivers')) expect(imports(f).filter((i) => /\/(device|sync|app|scripts)\//.test(i)), f).toEqual([]);
  });
});
