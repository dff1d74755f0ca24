/**
 * The `passgate` and `passgate-issuer` command lines as technicians and external checks drive them:
 * the built `dist/` (the test command compiles first), run as separate processes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PASSGATE = 'dist/scripts/passgate.js';
const ISSUER = 'dist/scripts/passgate-issuer.js';
let dir: string;
const fed = () => join(dir, 'fed');
const data = () => join(dir, 'gate');

async function cli(script: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
const issuer = async (...args: string[]) => (await run(process.execPath, [ISSUER, ...args, '--federation', fed()])).stdout.trim();
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'passgate-cli-'));
  await run(process.execPath, [ISSUER, 'federation', '--out', fed()]);
  const root = await issuer('root');
  const init = await cli(PASSGATE, ['init', '--data-dir', data(), '--site', 'metro-1', '--gate', 'g-07', '--root', root]);
  expect(init.code).toBe(0);
  writeFileSync(join(dir, 'trust.json'), await issuer('trust', '--version', '3'));
  writeFileSync(join(dir, 'policy.json'), await issuer('policy', '--version', '2', '--set', 'antiPassbackSeconds=30'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npx', () => {
  it('runs both command lines from the package (npm ci builds dist/ in prepare)', async () => {
    for (const bin of ['passgate', 'passgate-issuer']) {
      const { stdout } = await run('npx', ['--no-install', bin, '--help']);
      expect(stdout).toMatch(new RegExp(`Usage: ${bin} `));
    }
  });
});

describe('passgate init', () => {
  it('refuses a second init and a bad root', async () => {
    const again = await cli(PASSGATE, ['init', '--data-dir', data(), '--site', 's', '--gate', 'g', '--root', await issuer('root')]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/ALREADY_INITIALISED/);
    const bad = await cli(PASSGATE, ['init', '--data-dir', join(dir, 'other'), '--site', 's', '--gate', 'g', '--root', 'AAAA']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/BAD_CONFIG/);
    // A gate named like a site-wide topic would receive the site's messages as its own.
    const reserved = await cli(PASSGATE, ['init', '--data-dir', join(dir, 'other'), '--site', 's', '--gate', 'lists', '--root', await issuer('root')]);
    expect(reserved.code).not.toBe(0);
    expect(reserved.stderr).toMatch(/gate id lists is reserved/);
  });
});

describe('passgate import', () => {
  it('prints what changed, ignores a repeat, and exits non-zero with the reason code on a refusal', async () => {
    const ok = await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'trust.json'), join(dir, 'policy.json')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/trust applied \(version 3\)/);
    expect(ok.stdout).toMatch(/policy applied \(version 2\)/);
    expect((await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'trust.json')])).stdout).toMatch(/trust ignored/);

    writeFileSync(join(dir, 'old.json'), await issuer('trust', '--version', '2'));
    const old = await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'old.json')]);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/refused DOWNGRADE/);

    writeFileSync(join(dir, 'gap.json'), await issuer('delta', '--list', 'tokens', '--from', '5', '--to', '6'));
    const gap = await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'gap.json')]);
    expect(gap.code).toBe(1);
    expect(gap.stderr).toMatch(/refused LIST_GAP/);
  });
});

describe('passgate verify', () => {
  it('prints one JSON Decision line, records it, and applies anti-passback', async () => {
    const code = await issuer('code', '--issuer', 'CN-440000');
    const first = await cli(PASSGATE, ['verify', '--data-dir', data(), code]);
    expect(first.code).toBe(0);
    const [d] = lines(first.stdout);
    expect(d).toMatchObject({ result: 'open', reason: 'OK', format: 'HP1', issuer: 'CN-440000', status: 1 });
    expect(d.handle).toMatch(/^[0-9a-f]{32}$/);
    expect(d.seq).toBeGreaterThan(0);
    expect(lines((await cli(PASSGATE, ['verify', '--data-dir', data(), code])).stdout)[0]).toMatchObject({ result: 'deny', reason: 'REPLAY' });
  });

  it('--now decides at that trusted time; --dry-run records nothing', async () => {
    const iat = Math.floor(Date.now() / 1000) + 3600;
    const code = await issuer('code', '--issuer', 'CN-330000', '--iat', String(iat), '--ttl', '60');
    const at = async (now: number) => lines((await cli(PASSGATE, ['verify', '--data-dir', data(), '--dry-run', '--now', String(now), code])).stdout)[0];
    expect(await at(iat + 30)).toMatchObject({ result: 'open', seq: null });
    expect(await at(iat + 60)).toMatchObject({ result: 'deny', reason: 'EXPIRED' });
    expect(await at(iat - 301)).toMatchObject({ result: 'deny', reason: 'NOT_YET_VALID' });
  });

  it('reads one input per line from stdin with TEXT "-", ID cards with --input idcard', async () => {
    const yellow = await issuer('code', '--issuer', 'CN-110000', '--status', 'yellow');
    const out = await cli(PASSGATE, ['verify', '--data-dir', data(), '--dry-run', '-'], `${yellow}\r\nHP1:garbage\nhello\n`);
    expect(lines(out.stdout).map((d) => d.reason)).toEqual(['STATUS_YELLOW', 'BAD_ENCODING', 'UNSUPPORTED_FORMAT']);
    const ids = await cli(PASSGATE, ['verify', '--data-dir', data(), '--dry-run', '--input', 'idcard', '-'], '11010519491231002X\n110105194912310021\n');
    expect(lines(ids.stdout).map((d) => d.reason)).toEqual(['LIST_STALE', 'ID_INVALID']);
  });

  it('several dry runs at once on one data directory all answer', async () => {
    const code = await issuer('code', '--issuer', 'CN-330000');
    const results = await Promise.all(Array.from({ length: 6 }, () => cli(PASSGATE, ['verify', '--data-dir', data(), '--dry-run', code])));
    for (const r of results) expect(lines(r.stdout)[0]).toMatchObject({ result: 'open' });
  });
});

describe('passgate status', () => {
  it('reports versions, counts, clock trust and outbox depth as JSON', async () => {
    const s = JSON.parse((await cli(PASSGATE, ['status', '--data-dir', data()])).stdout);
    // clock trust is judged ("auto"): the answer depends on this machine's time daemon, the reason says which
    expect(s).toMatchObject({ site: 'metro-1', gate: 'g-07', clock: { mode: 'auto', trusted: expect.any(Boolean), reason: expect.any(String) }, trust: { version: 3, issuers: 3 }, policy: { version: 2 } });
    const untrusted = JSON.parse((await cli(PASSGATE, ['status', '--data-dir', data(), '--clock-untrusted'])).stdout);
    expect(untrusted.clock).toMatchObject({ trusted: false, mode: 'never' });
    expect(s.lists.tokens).toMatchObject({ version: 0, entries: 0 });
    expect(s.outbox.depth).toBeGreaterThanOrEqual(2);
  });
});

describe('passgate decode-image', () => {
  it('prints the code in a QR PNG, and exits 1 for an image without one', async () => {
    const png = join(dir, 'code.png');
    const text = (await run(process.execPath, [ISSUER, 'code', '--federation', fed(), '--issuer', 'CN-330000', '--png', png])).stdout.trim();
    const decoded = await cli(PASSGATE, ['decode-image', png]);
    expect(decoded.code).toBe(0);
    expect(decoded.stdout.trim()).toBe(text);
    const blank = await cli(PASSGATE, ['decode-image', join(dir, 'trust.json')]);
    expect(blank.code).toBe(1);
  });
});

describe('passgate-issuer signs what a backend sends, and the gate takes it', () => {
  it('snapshot chunks, a holder entry by handle, a command and a look-up answer', async () => {
    const entries = Array.from({ length: 25 }, (_, i) => [i.toString(16).padStart(32, '0'), 0, 1, 4_000_000_000]);
    writeFileSync(join(dir, 'entries.json'), JSON.stringify(entries));
    await issuer('snapshot', '--list', 'tokens', '--snapshot', '40', '--entries', join(dir, 'entries.json'), '--chunk-size', '10', '--out-dir', join(dir, 'snap'));
    const chunks = [0, 1, 2].map((i) => join(dir, 'snap', `tokens-40-${i}.json`));
    const snap = await cli(PASSGATE, ['import', '--data-dir', data(), ...chunks]);
    expect(snap.code).toBe(0);
    expect(snap.stdout).toMatch(/tokens list applied \(version 40\)/);

    const id = '440524188001010014';
    const handle = await issuer('holder-handle', id);
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(join(dir, 'holders.json'), await issuer('delta', '--list', 'holders', '--from', '0', '--to', '1', '--put', `${handle}:1:${now}:${now + 86400}`));
    expect((await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'holders.json')])).code).toBe(0);
    const tap = lines((await cli(PASSGATE, ['verify', '--data-dir', data(), '--dry-run', '--input', 'idcard', id])).stdout)[0];
    expect(tap).toMatchObject({ result: 'open', reason: 'OK', handle });

    writeFileSync(join(dir, 'cmd.json'), await issuer('cmd', '--site', 'metro-1', '--gate', 'g-07', '--cmd', 'sync', '--ctr', '1'));
    const cmd = await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'cmd.json')]);
    expect(cmd.stdout).toMatch(/accepted and recorded/);
    const replay = await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'cmd.json')]);
    expect(replay.stderr).toMatch(/refused REPLAYED/);

    writeFileSync(join(dir, 'lookup.json'), await issuer('lookup', '--id', 'req-1', '--holder', handle, '--s', '2'));
    expect((await cli(PASSGATE, ['import', '--data-dir', data(), join(dir, 'lookup.json')])).stdout).toMatch(/lookup answer req-1 verified \(holder status 2\)/);
  });

  it('an events ack for <site>/<gate>: deletes what it covers, and nothing when it names another site or a seq not yet assigned', async () => {
    // Two events at least: the sync command above and its replay (both verified, both recorded).
    const ack = async (name: string, ...args: string[]) => {
      writeFileSync(join(dir, name), await issuer('ack', ...args));
      return cli(PASSGATE, ['import', '--data-dir', data(), join(dir, name)]);
    };
    const beyond = await ack('ack-beyond.json', '--site', 'metro-1', '--gate', 'g-07', '--up-to', '999999');
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toMatch(/refused ACK_BEYOND_LAST_SEQ/);
    const elsewhere = await ack('ack-elsewhere.json', '--site', 'metro-2', '--gate', 'g-07', '--up-to', '1');
    expect(elsewhere.stderr).toMatch(/refused WRONG_AUDIENCE/);
    const good = await ack('ack.json', '--site', 'metro-1', '--gate', 'g-07', '--up-to', '1');
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/ack up to 1 verified; 1 event\(s\) deleted from the outbox/);
  });

  it('keygen writes a key file whose kid it prints', async () => {
    const out = join(dir, 'sm2.json');
    const kid = (await run(process.execPath, [ISSUER, 'keygen', '--alg', 'SM2SM3', '--out', out])).stdout.trim();
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ alg: 'SM2SM3', kid });
  });
});
