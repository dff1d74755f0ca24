/** `passgate guard add|remove|list`: accounts in the data directory, passwords only as scrypt hashes. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CTRL_D, Terminal, hasTerminal } from '../helpers/terminal.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GateStore } from '../../device/store/store.js';
import { verifyPassword } from '../../device/gate/guard-accounts.js';

const PASSGATE = 'dist/scripts/passgate.js';
let dir: string;

const run = (args: string[], input?: string) => spawnSync(process.execPath, [PASSGATE, ...args], { input, encoding: 'utf8' });

beforeEach(() => {
  if (!existsSync(PASSGATE)) throw new Error(`${PASSGATE} is missing: build first (npm test does)`);
  dir = mkdtempSync(join(tmpdir(), 'passgate-guard-'));
  const s = GateStore.open(dir);
  s.initialise({ site: 's1', gate: 'g1', roots: ['MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE'] });
  s.close();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('passgate guard', () => {
  it('add reads the password from stdin, stores only a salted scrypt hash; list and remove', async () => {
    const add = run(['guard', 'add', '--data-dir', dir, 'wang'], 'a long password\n');
    expect(add.stdout).toBe('guard wang added\n');
    expect(add.status).toBe(0);
    expect(run(['guard', 'list', '--data-dir', dir]).stdout).toMatch(/^wang\t\d{4}-\d\d-\d\dT/);
    const db = new Database(join(dir, 'passgate.db'), { readonly: true });
    const rows = db.prepare('SELECT name, hash FROM guard_accounts').all() as { name: string; hash: string }[];
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(rows[0]!.hash).not.toContain('a long password');
    expect(await verifyPassword('a long password', rows[0]!.hash)).toBe(true);
    expect(run(['guard', 'add', '--data-dir', dir, 'wang'], 'another password\n').stdout).toBe('guard wang: password changed\n');
    expect(run(['guard', 'remove', '--data-dir', dir, 'wang']).stdout).toBe('guard wang removed\n');
    const again = run(['guard', 'remove', '--data-dir', dir, 'wang']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('no guard named wang');
    const empty = run(['guard', 'list', '--data-dir', dir]);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toContain('passgate guard add');
  });

  it('refuses a short password, a bad name, and a data directory never initialised — one line, no stack', () => {
    for (const [args, input, want, status] of [
      [['guard', 'add', '--data-dir', dir, 'wang'], 'short\n', 'at least 8 characters', 78],
      [['guard', 'add', '--data-dir', dir, 'Wang Li'], 'a long password\n', 'a guard name is', 78],
      [['guard', 'add', '--data-dir', join(dir, 'nope'), 'wang'], 'a long password\n', 'run passgate init', 66],
    ] as const) {
      const r = run([...args], input);
      expect(r.status).toBe(status);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(want);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });

  it.skipIf(!hasTerminal)('on a terminal the password is asked twice without echo', async () => {
    const t = new Terminal([process.execPath, PASSGATE, 'guard', 'add', '--data-dir', dir, 'li']);
    await t.answer('password: ', 'secret-words-1');
    await t.answer('again: ', 'secret-words-1');
    await t.see('guard li added');
    expect(await t.status()).toBe(0);
    expect(t.screen).not.toContain('secret-words-1');
  });

  it.skipIf(!hasTerminal)('on a terminal, Ctrl-D at the password prompt stops in one line, exit 64, no account added', async () => {
    const t = new Terminal([process.execPath, PASSGATE, 'guard', 'add', '--data-dir', dir, 'li']);
    await t.press('password: ', `secret${CTRL_D}`);
    expect(await t.status()).toBe(64);
    expect(t.screen.trimEnd().split('\n').at(-1)!.trim()).toBe('passgate: ABORTED: no password given: nothing was written');
    expect(t.screen).not.toContain('secret');
    expect(run(['guard', 'list', '--data-dir', dir]).stdout).toBe('');
  });
});
