/**
 * The store under damage: a WAL deleted under a running gate (defect 15), a store that lost its
 * recent outbox (defect 15), truncated and flipped files (defect 13), a read-only data directory and
 * a full disk (defect 14). The service, repair and the CLI answer with one line, never a stack.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DB_FILE, GateStore, WAL_FILE } from '../../device/store/store.js';
import { SEQ_MARK_FILE } from '../../device/store/seq-mark.js';
import { checkStoreIntegrity, repairStore } from '../../device/store/integrity.js';
import { openServiceStore } from '../../device/store/startup.js';
import { SystemClock } from '../../device/clock.js';
import { baseEvent } from '../../device/events.js';
import { ensureBuilt, REPO } from '../helpers/sync.js';
import { makeFaultGate, report, runScript, SERVICE_ENTRY, spawnService, STACK, type FaultGate } from './harness.js';

const clock = new SystemClock(true);
const dirs: string[] = [];
const gates: FaultGate[] = [];
afterAll(async () => {
  for (const g of gates) await g.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function provisioned(events = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-fault-store-'));
  dirs.push(dir);
  const store = GateStore.open(dir);
  store.initialise({ site: 'fault', gate: 'g1', roots: ['AAAA'] });
  for (let i = 0; i < events; i++) record(store);
  store.close();
  return dir;
}

function record(store: GateStore, what = 'test'): number {
  const e = { ...baseEvent('decision', clock), result: 'deny', reason: what };
  return store.recordEvent(e, e.tsMs);
}

const quietLog = () => {
  const lines: string[] = [];
  const at = (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`);
  return { lines, info: at, warn: at, error: at, fatal: at };
};

function readAll(dir: string) {
  const s = GateStore.open(dir, { readonly: true });
  try {
    return s.pendingEvents(0, 1_000_000);
  } finally {
    s.close();
  }
}

describe('defect 15: a lost WAL', () => {
  it('defect 15: deleting passgate.db-wal under a running gate is detected, raises an alarm, and loses nothing across a kill', { timeout: 30_000 }, async () => {
    const dir = provisioned();
    const dist = (p: string) => `file://${join(REPO, 'dist', p)}`;
    await ensureBuilt('device/store/startup.js');
    const script = `
      import { openServiceStore } from '${dist('device/store/startup.js')}';
      import { SystemClock } from '${dist('device/clock.js')}';
      import { baseEvent } from '${dist('device/events.js')}';
      const clock = new SystemClock(true);
      const log = { info() {}, warn() {}, error(o, m) { console.log('log ' + m); }, fatal(o, m) { console.log('fatal ' + m); } };
      const store = openServiceStore({ dataDir: ${JSON.stringify(dir)}, durability: 'full', clock, log });
      const rec = () => { const e = { ...baseEvent('decision', clock), result: 'deny', reason: 'test' }; return store.recordEvent(e, e.tsMs); };
      for (let i = 0; i < 5; i++) console.log('seq ' + rec());
      console.log('ready');
      process.stdin.on('data', () => console.log('seq ' + rec()));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    const until = async (re: RegExp) => {
      for (const deadline = Date.now() + 15_000; !re.test(out); ) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(/ready/);
    unlinkSync(join(dir, WAL_FILE));
    child.stdin.write('x\n');
    await until(/seq 7/); // 6 is the alarm recorded when the commit noticed the lost file
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const rows = readAll(dir);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(rows[5]!.event).toMatchObject({ type: 'alarm', what: 'store_files_replaced', files: [WAL_FILE] });
    expect(out).toMatch(/log store files were deleted or replaced/);
  });

  it('defect 15: seqs continue above the highest ever sent even when the outbox itself was lost', () => {
    const dir = provisioned();
    const store = GateStore.open(dir, { durability: 'normal' });
    for (let i = 0; i < 10; i++) record(store);
    expect(store.pendingEvents(0, 100)).toHaveLength(11 - 1); // handed out for sending: the mark is 10
    // What a kill leaves when the WAL holding those ten is gone: the database file and the side file.
    const lost = mkdtempSync(join(tmpdir(), 'passgate-fault-lost-'));
    dirs.push(lost);
    copyFileSync(join(dir, DB_FILE), join(lost, DB_FILE));
    copyFileSync(join(dir, SEQ_MARK_FILE), join(lost, SEQ_MARK_FILE));
    store.close();
    const after = GateStore.open(lost);
    expect(after.seqGapAtOpen()).toEqual({ from: 1, to: 10 });
    expect(record(after)).toBe(11);
    after.close();
  });
});

describe('defect 13: a damaged store', () => {
  it('defect 13: a truncated store is set aside, its readable events salvaged, and seqs continue above the highest', () => {
    const dir = provisioned(400);
    const size = statSync(join(dir, DB_FILE)).size;
    truncateSync(join(dir, DB_FILE), Math.floor(size * 0.6));
    expect(checkStoreIntegrity(dir).ok).toBe(false);
    const log = quietLog();
    const store = openServiceStore({ dataDir: dir, durability: 'normal', clock, log });
    try {
      expect(store.identity()).toMatchObject({ site: 'fault', gate: 'g1' });
      const rows = store.pendingEvents(0, 10_000);
      const repaired = rows.find((r) => r.event.what === 'store_repaired')!;
      expect(repaired.seq).toBeGreaterThan(400);
      const salvaged = rows.filter((r) => r.event.type === 'decision');
      expect(salvaged.length).toBeGreaterThan(0);
      expect(salvaged.every((r) => r.seq <= 400)).toBe(true);
      expect(record(store)).toBe(repaired.seq + 1);
      expect(readdirSync(dir).some((f) => f.startsWith(`${DB_FILE}.damaged-`))).toBe(true);
      expect(log.lines.join('\n')).toMatch(/is damaged: setting it aside/);
      report('corrupt-truncated', { events: 400, salvaged: salvaged.length, lost: 400 - salvaged.length, repairedAtSeq: repaired.seq });
    } finally {
      store.close();
    }
  });

  it('defect 13: rows read back from damaged pages with a column missing are counted unreadable, not put into the rebuilt store (which refused them)', () => {
    const dir = provisioned(5);
    // A damaged page can return a row with NULLs where the schema says NOT NULL: stand that in by
    // an outbox without the constraints, holding such rows beside whole ones.
    const db = new Database(join(dir, DB_FILE));
    db.exec('ALTER TABLE outbox RENAME TO outbox_whole; CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER, event TEXT); INSERT INTO outbox SELECT * FROM outbox_whole; DROP TABLE outbox_whole;');
    db.prepare('INSERT INTO outbox (seq, ts_ms, event) VALUES (?, ?, ?)').run(6, null, JSON.stringify({ type: 'decision' }));
    db.prepare('INSERT INTO outbox (seq, ts_ms, event) VALUES (?, ?, ?)').run(7, Date.now(), null);
    db.close();
    const r = repairStore(dir, { clock, reason: 'test' });
    expect(r).toMatchObject({ salvaged: 5, identity: true });
    expect(r.unreadable).toBe(2);
    const store = GateStore.open(dir);
    try {
      expect(store.pendingEvents(0, 100).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 8]);
    } finally {
      store.close();
    }
  });

  it('defect 13: flipped bytes inside a list entry (which SQLite\'s own checks pass) are detected by the list digest and repaired', () => {
    const dir = provisioned(10);
    const store = GateStore.open(dir);
    const put = Array.from({ length: 3000 }, (_, i) => [i.toString(16).padStart(8, '0') + 'a'.repeat(24), 1, 1_700_000_000, 1_900_000_000] as [string, 1, number, number]);
    store.applyDelta({ list: 'holders', from: 0, to: 1, put, del: [put[5]![0]] }, Date.now());
    store.close();
    expect(checkStoreIntegrity(dir).ok).toBe(true);
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    const pages = db.prepare("SELECT pageno FROM dbstat WHERE name = 'list_holders' AND pagetype = 'leaf'").pluck().all() as number[];
    const quick = () => db.prepare('PRAGMA quick_check').pluck().all();
    const fd = openSync(join(dir, DB_FILE), 'r+');
    writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, (pages[pages.length >> 1]! - 1) * 4096 + 2048);
    closeSync(fd);
    expect(quick()).toEqual(['ok']); // SQLite itself sees nothing wrong
    db.close();
    const check = checkStoreIntegrity(dir);
    expect(check.ok).toBe(false);
    expect(check.problems[0]).toMatch(/list holders: content does not match its digest/);
    const log = quietLog();
    const fresh = openServiceStore({ dataDir: dir, durability: 'normal', clock, log });
    try {
      // The altered list is gone with the damaged file: the gate knows it holds no list (stale → policy) until the backend resends it.
      expect(fresh.meta('holders').version).toBe(0);
      expect(fresh.count('holders')).toBe(0);
      expect(fresh.pendingEvents(0, 100).filter((r) => r.event.type === 'decision')).toHaveLength(10);
    } finally {
      fresh.close();
    }
    expect(checkStoreIntegrity(dir).ok).toBe(true);
  });

  it('defect 13: flipped bytes in a page header are detected at start and repaired; the CLI says so in one line', async () => {
    const dir = provisioned(50);
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    const page = db.prepare("SELECT pageno FROM dbstat WHERE name = 'outbox' AND pagetype = 'leaf' LIMIT 1").pluck().get() as number;
    db.close();
    const fd = openSync(join(dir, DB_FILE), 'r+');
    writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, (page - 1) * 4096);
    closeSync(fd);
    const status = await runScript('scripts/passgate.js', ['status', '--data-dir', dir]);
    expect(status.stderr).not.toMatch(STACK);
    const r = await runScript('scripts/passgate.js', ['repair', '--data-dir', dir]);
    expect(r.stderr).toMatch(/is damaged/);
    expect(r.stdout).toMatch(/set aside: .*damaged-.*; \d+ event\(s\) salvaged/);
    expect(r.stderr + r.stdout).not.toMatch(STACK);
    expect(checkStoreIntegrity(dir).ok).toBe(true);
    expect((await runScript('scripts/passgate.js', ['repair', '--data-dir', dir])).stdout).toMatch(/is whole/);
  });

  it('defect 13: a store with nothing readable left stops the service with exit 78 and one line (no restart loop)', { timeout: 60_000 }, async () => {
    const g = await makeFaultGate();
    gates.push(g);
    writeFileSync(join(g.dataDir, DB_FILE), Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8192, 0x5a)]));
    // A store with no readable identity cannot be rebuilt into this gate: exit 78, one line.
    const svc = await spawnService(g.configFile);
    const exit = await svc.exited;
    expect(exit.code).toBe(78);
    expect(svc.stderr()).toMatch(/^passgate: refusing to start: the damaged store held no readable identity/);
    expect(svc.stderr()).not.toMatch(STACK);
  });
});

/** A small tmpfs at `dir`, or null (with the reason) when this runner may not mount. */
function tmpfs(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `cannot mount a tmpfs here (${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0]}): run as root to include this fault`;
  }
}
const umount = (dir: string) => {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  } catch {
    /* already gone */
  }
};

/** A fault gate whose data directory is copied onto a fresh tmpfs of `size` at `<root>/<name>`, or why no tmpfs can be mounted here. */
async function gateOnTmpfs(name: string, size: string): Promise<{ g: FaultGate; mnt: string } | { skip: string }> {
  const g = await makeFaultGate();
  gates.push(g);
  const mnt = join(g.root, name);
  const why = tmpfs(mnt, size);
  if (why) return { skip: why };
  try {
    for (const f of readdirSync(g.dataDir)) copyFileSync(join(g.dataDir, f), join(mnt, f));
  } catch (e) {
    umount(mnt);
    throw e;
  }
  return { g, mnt };
}

describe('defect 14: read-only directory and full disk', () => {
  it('defect 14: a read-only data directory: --check says so, the service exits 74 with one line', { timeout: 60_000 }, async (ctx) => {
    const on = await gateOnTmpfs('ro', '16m');
    if ('skip' in on) return ctx.skip(on.skip);
    const { g, mnt } = on;
    try {
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      const config = JSON.parse((await import('node:fs')).readFileSync(g.configFile, 'utf8'));
      writeFileSync(g.configFile, JSON.stringify({ ...config, dataDir: mnt }));
      const check = await runScript(SERVICE_ENTRY, ['--config', g.configFile, '--check']);
      expect(check.code).toBe(74);
      expect(check.stdout).toMatch(/is not writable \(EROFS\)/);
      const svc = await spawnService(g.configFile);
      expect((await svc.exited).code).toBe(74);
      expect(svc.stderr().trim().split('\n')).toHaveLength(1);
      expect(svc.stderr()).toMatch(/^passgate: refusing to start: .* is not writable/);
      // A dry run still decides, read-only.
      const v = await runScript('scripts/passgate.js', ['verify', '--data-dir', mnt, '--dry-run', g.code()]);
      expect(v.stderr).not.toMatch(STACK);
      expect(JSON.parse(v.stdout)).toMatchObject({ result: 'open', seq: null });
    } finally {
      umount(mnt);
    }
  });

  it('defect 14: on a full disk verify prints a decision (dry run: the real one; otherwise not opened), and recovers when space returns', { timeout: 60_000 }, async (ctx) => {
    const on = await gateOnTmpfs('full', '2m');
    if ('skip' in on) return ctx.skip(on.skip);
    const { g, mnt } = on;
    try {
      const filler = join(mnt, 'filler');
      const fd = openSync(filler, 'w');
      try {
        for (;;) writeSync(fd, Buffer.alloc(64 * 1024));
      } catch {
        /* ENOSPC: full */
      }
      try {
        for (;;) writeSync(fd, Buffer.alloc(512));
      } catch {
        /* to the last block */
      }
      closeSync(fd);
      const dry = await runScript('scripts/passgate.js', ['verify', '--data-dir', mnt, '--dry-run', g.code()]);
      expect(dry.stderr).not.toMatch(STACK);
      expect(JSON.parse(dry.stdout)).toMatchObject({ result: 'open', reason: 'OK', seq: null });
      const real = await runScript('scripts/passgate.js', ['verify', '--data-dir', mnt, g.code()]);
      expect(real.stderr).not.toMatch(STACK);
      expect(real.stderr).toMatch(/^passgate: DISK_FULL: no space left/);
      expect(real.stdout + real.stderr).not.toMatch(/"result":"open"/); // never an open without a record
      rmSync(filler);
      const after = await runScript('scripts/passgate.js', ['verify', '--data-dir', mnt, g.code()]);
      expect(JSON.parse(after.stdout)).toMatchObject({ result: 'open', reason: 'OK' });
      expect(JSON.parse(after.stdout).seq).toBeGreaterThan(0);
    } finally {
      umount(mnt);
    }
  });
});
