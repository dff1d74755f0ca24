/**
 * Command-line conventions both CLIs follow (scripts/lib/cli.ts): version everywhere, help for a bare
 * command, described options, one line per error with its code once, nothing created by a typo.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { humanLine } from '../../device/log.js';

const PASSGATE = 'dist/scripts/passgate.js';
const ISSUER = 'dist/scripts/passgate-issuer.js';
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
let dir: string;

function cli(script: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', input: '' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function commandsOf(script: string): string[] {
  const help = cli(script, '--help').stdout;
  return [...help.split('Commands:')[1]!.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'passgate-conv-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('command-line conventions', { timeout: 240_000 }, () => {
  it('--version (or -V) works on every command of both tools', () => {
    for (const script of [PASSGATE, ISSUER]) {
      expect(cli(script, '--version').stdout.trim()).toBe(VERSION);
      for (const c of commandsOf(script)) {
        const r = cli(script, c, '-V');
        expect(r.stdout.trim(), `${script} ${c} -V`).toBe(VERSION);
        expect(r.code).toBe(0);
      }
      expect(cli(script, commandsOf(script)[0]!, '--version').stdout.trim()).toBe(VERSION);
    }
  });

  it('a command that needs arguments prints its help when given none; every option is described, required ones marked, exit codes listed', () => {
    for (const script of [PASSGATE, ISSUER]) {
      const bare = cli(script);
      expect(bare.code).toBe(0);
      expect(bare.stdout).toMatch(/^Usage: /);
      for (const c of commandsOf(script)) {
        const help = cli(script, c, '--help').stdout;
        expect(help, c).toMatch(/Exit status:\n {2}0 {3}success/);
        for (const line of help.split('Options:')[1]!.split('Exit status:')[0]!.split('\n')) {
          // an option line with nothing after its flags would be undescribed
          if (/^ {2}-/.test(line)) expect(line.trim(), `${script} ${c}`).toMatch(/^\S.*\s{2,}\S/);
        }
        if (/<[^>]+>\s+.*\n?.*\(required\)/.test(help)) {
          const r = cli(script, c);
          expect(r.stdout, `${script} ${c} alone`).toMatch(new RegExp(`^Usage: \\S+ ${c} `));
        }
      }
    }
    expect(cli(PASSGATE, 'status', '--help').stdout).toMatch(/--data-dir <dir>[\s\S]*\(required\)/);
  });

  it('status, verify and import on a path without a store: an error naming the path, exit 66, nothing created', () => {
    const typo = join(dir, 'a', 'typo');
    for (const args of [['status', '--data-dir', typo], ['verify', '--data-dir', typo, 'HP1:x'], ['import', '--data-dir', typo, join(dir, 'nothing.json')]]) {
      const r = cli(PASSGATE, ...args);
      expect(r.code, args.join(' ')).toBe(66);
      expect(r.stderr).toContain(typo);
      expect(r.stderr.match(/NOT_INITIALISED/g)).toHaveLength(1);
      expect(existsSync(join(dir, 'a'))).toBe(false);
    }
  });

  it('a reason code is printed once; a bad --root gets a clear message, not OpenSSL\'s', () => {
    const r = cli(PASSGATE, 'init', '--data-dir', join(dir, 'g'), '--site', 's', '--gate', 'g', '--root', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(r.code).toBe(78);
    expect(r.stderr.match(/BAD_CONFIG/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/is not a federation root public key: expected the base64url SPKI/);
    expect(r.stderr).not.toMatch(/asn1|DECODER|error:[0-9A-F]{8}/i);
    expect(existsSync(join(dir, 'g'))).toBe(false);
  });

  it('no stack trace without --debug', () => {
    const bad = join(dir, 'corrupt');
    mkdirSync(bad);
    writeFileSync(join(bad, 'passgate.db'), 'this is not a database, it is a text file of some length'.repeat(200));
    const r = cli(PASSGATE, 'status', '--data-dir', bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const d = cli(PASSGATE, 'status', '--data-dir', bad, '--debug');
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('passgate-issuer federation refuses to replace an existing federation without --force', () => {
    const fed = join(dir, 'fed');
    expect(cli(ISSUER, 'federation', '--out', fed).code).toBe(0);
    const before = readFileSync(join(fed, 'federation.json'), 'utf8');
    const again = cli(ISSUER, 'federation', '--out', fed);
    expect(again.code).toBe(73);
    expect(again.stderr).toMatch(/--force/);
    expect(readFileSync(join(fed, 'federation.json'), 'utf8')).toBe(before);
    expect(cli(ISSUER, 'federation', '--out', fed, '--force').code).toBe(0);
    expect(readFileSync(join(fed, 'federation.json'), 'utf8')).not.toBe(before);
  });

  it('logs read as one human line on a terminal', () => {
    const line = humanLine(JSON.stringify({ level: 'warn', time: '2026-11-27T12:00:01.234Z', pid: 1, mod: 'sync', msg: 'broker lost', reason: 'timeout' }));
    expect(line).toBe('12:00:01.234 WARN  [sync] broker lost  reason=timeout');
  });
});
