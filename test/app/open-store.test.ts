/**
 * One way to open a store: openProvisionedStore opens, migrates and checks a provisioned store or
 * says why not, without exiting or repairing; compose's openStore (demo, simulator, benches) refuses
 * what it refuses; the service's openServiceStore repairs a damaged store on top of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, GateStore } from '../../device/store/store.js';
import { StoreRefused, openProvisionedStore, openServiceStore } from '../../device/store/startup.js';
import { StartRefused, openStore } from '../../app/compose.js';
import { SystemClock } from '../../device/clock.js';
import type { WireEntry } from '../../device/core/lists.js';
import { removeTempDirs, tempDir as makeTempDir } from '../helpers/temp.js';

afterEach(removeTempDirs);
const tempDir = () => makeTempDir('passgate-open-store-');

const T = 1_700_000_000;
/** A provisioned store with a holders list; `damaged`: its kept entry count altered on disk (SQLite's own checks pass). */
function provisioned(o: { damaged?: boolean; identity?: boolean } = {}): string {
  const dir = tempDir();
  const store = GateStore.open(dir);
  if (o.identity !== false) store.initialise({ site: 's', gate: 'g', roots: ['AAAA'] });
  const put = Array.from({ length: 50 }, (_, i): WireEntry => [i.toString(16).padStart(32, '0'), 1, T, T + 86_400]);
  store.applyDelta({ list: 'holders', from: 0, to: 1, put, del: [] }, T * 1000);
  store.close();
  if (o.damaged) {
    const db = new Database(join(dir, DB_FILE));
    db.prepare("UPDATE list_meta SET entries = 49 WHERE name = 'holders'").run();
    db.close();
  }
  return dir;
}

const refusal = (fn: () => unknown): StoreRefused => {
  try {
    fn();
  } catch (e) {
    if (e instanceof StoreRefused) return e;
    throw e;
  }
  throw new Error('opened');
};

const quietLog = () => {
  const lines: string[] = [];
  const at = (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`);
  return { lines, info: at, warn: at, error: at, fatal: at };
};

describe('openProvisionedStore', () => {
  it('opens a whole provisioned store, checked', () => {
    const { store, check } = openProvisionedStore({ dataDir: provisioned(), durability: 'normal' });
    try {
      expect(check).toMatchObject({ ok: true, scope: 'full' });
      expect(store.count('holders')).toBe(50);
    } finally {
      store.close();
    }
  });

  it('refuses a directory without a store, or a store without an identity, creating nothing', () => {
    const empty = tempDir();
    expect(refusal(() => openProvisionedStore({ dataDir: empty, durability: 'normal' }))).toMatchObject({ problem: 'not-initialised', code: 'NOT_INITIALISED' });
    expect(readdirSync(empty)).toEqual([]);
    const anonymous = provisioned({ identity: false });
    expect(refusal(() => openProvisionedStore({ dataDir: anonymous, durability: 'normal' })).detail).toMatch(/is not initialised: run `passgate init/);
  });

  it('refuses a damaged store with what the check found, and leaves it as it is (no repair, no exit)', () => {
    const dir = provisioned({ damaged: true });
    const e = refusal(() => openProvisionedStore({ dataDir: dir, durability: 'normal' }));
    expect(e.problem).toBe('damaged');
    expect(e.problems).toEqual(['list holders: holds 50 entries but its count says 49 (altered on disk)']);
    expect(e.detail).toMatch(/is damaged .*`passgate repair --data-dir/);
    expect(readdirSync(dir).filter((f) => f.includes('damaged'))).toEqual([]);
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    expect(db.prepare("SELECT entries FROM list_meta WHERE name = 'holders'").pluck().get()).toBe(49);
    db.close();
  });
});

describe('on top of it', () => {
  it("compose's openStore refuses a damaged store in one line (it used to open it unchecked)", () => {
    const dir = provisioned({ damaged: true });
    expect(() => openStore({ dataDir: dir, durability: 'normal' })).toThrow(StartRefused);
    expect(() => openStore({ dataDir: dir, durability: 'normal' })).toThrow(/is damaged .*passgate repair/);
    const store = openStore({ dataDir: provisioned(), durability: 'normal' });
    expect(store.identity()).toMatchObject({ site: 's', gate: 'g' });
    store.close();
  });

  it('the service repairs the same damaged store and starts', () => {
    const dir = provisioned({ damaged: true });
    const log = quietLog();
    const store = openServiceStore({ dataDir: dir, durability: 'normal', clock: new SystemClock(true), log });
    try {
      expect(store.identity()).toMatchObject({ site: 's', gate: 'g' });
      expect(store.meta('holders').version).toBe(0); // synced again from the backend
      expect(readdirSync(dir).some((f) => f.startsWith(`${DB_FILE}.damaged-`))).toBe(true);
      expect(log.lines.join('\n')).toMatch(/is damaged: setting it aside/);
    } finally {
      store.close();
    }
    expect(existsSync(join(dir, DB_FILE))).toBe(true);
  });
});
