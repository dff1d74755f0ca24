/**
 * `npm start`'s demo, run as a newcomer runs it: the built `dist/scripts/demo/main.js` (the test command
 * compiles first) as a child process, with `--fast`. The demo is documentation, so its output is
 * what is checked: every scene it promises shows up, the numbers add up, nothing personal is printed,
 * and it exits 0 having cleaned up after itself.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const DEMO = 'dist/scripts/demo/main.js';
let out = '';
let err = '';
let code: number | null = null;

beforeAll(async () => {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: build first (npm test does)`);
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, [DEMO, '--fast'], { env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (c) => {
      code = c;
      resolve();
    });
  });
}, 60_000);

/** The table row whose who/what column contains `what`. */
const rowOf = (what: string) => out.split('\n').find((l) => /^\s*\d+\s{2}/.test(l) && l.includes(what)) ?? '';

describe('npm start (scripts/demo/ --fast)', () => {
  it('exits 0 without errors and shuts down cleanly', () => {
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/link\s+connected/);
    expect(out).toMatch(/shutdown: relay released \(GPIO 17 high.*link offline.*broker closed, data dir removed/);
  });

  it('opens on phone codes of three provinces and a paper code, pulsing the relay', () => {
    for (const what of ['Zhejiang · ES256', 'Beijing · EdDSA', 'Guangdong · SM2/SM3', 'printed paper code']) {
      expect(rowOf(what)).toMatch(/OPEN\s+OK\s.*▁▔▁ \d+ ms.*walked through/);
    }
  });

  it('turns codes away with the right reason and leaves the relay alone', () => {
    const cases: [string, string][] = [
      ['the same code again', 'REPLAY'],
      ['red phone code · Zhejiang', 'STATUS_RED'],
      ['expired', 'EXPIRED'],
      ['revoked', 'REVOKED'],
      ['edited by hand', 'BAD_SIGNATURE'],
      ['unknown key', 'UNKNOWN_KEY'],
      ['web link', 'UNSUPPORTED_FORMAT'],
      ['scanner garbage', 'UNREADABLE'],
      ['bad check digit', 'ID_INVALID'],
    ];
    for (const [what, reason] of cases) expect(rowOf(what)).toMatch(new RegExp(`DENY\\s+${reason}\\s.*▁▁▁`));
  });

  it('holds a yellow code for the guard, who approves it through the console', () => {
    const held = out.search(/STAFF\s+STATUS_YELLOW\s.*held for the guard/);
    const approved = out.search(/GUARD\s+GUARD_APPROVED\s.*▁▔▁ \d+ ms.*POST \/holds\/[0-9a-f]+\/approve → override event #\d+/);
    expect(held).toBeGreaterThan(0);
    expect(approved).toBeGreaterThan(held);
  });

  it('reads ID cards through the reader, asking the backend about an unlisted holder', () => {
    expect(rowOf('green in the holders list')).toMatch(/OPEN\s+OK\s.*李\*/);
    expect(rowOf('only the backend knows')).toMatch(/OPEN\s+OK\s.*online look-up answered by the backend/);
  });

  it('shows the passage sensor and the fire alarm', () => {
    expect(rowOf('no pass')).toMatch(/PASSAGE\s+unexpected\s.*passage event #\d+/);
    expect(rowOf('fire alarm contact opens')).toMatch(/ALARM\s.*▁▔▔ held.*gate released.*alarm event #\d+/);
    expect(rowOf('fire alarm contact closes')).toMatch(/ALARM\s.*▔▁▁ released.*alarm event #\d+/);
  });

  it('keeps deciding while the broker is away, then drains the outbox to a backend that acks all of it', () => {
    expect(rowOf('the broker goes away')).toMatch(/OFFLINE\s.*link offline/);
    expect(rowOf('(offline)')).toMatch(/OPEN\s+OK\s.*outbox \d+ waiting/);
    const m = /ONLINE\s.*outbox (\d+) → 0; backend stored (\d+) = gate's last seq (\d+), ack upTo (\d+)/.exec(out);
    expect(m).not.toBeNull();
    const [, waiting, stored, lastSeq, ack] = m!.map(Number);
    expect(waiting).toBeGreaterThan(0);
    expect(stored).toBe(lastSeq);
    expect(ack).toBe(lastSeq);
  });

  it('pulses the relay once on a signed remote open', () => {
    expect(rowOf('signed open from the backend')).toMatch(/CMD\s+open ok\s.*▁▔▁ \d+ ms .*command event #\d+ at the backend/);
  });

  it('ends with a summary whose numbers add up', () => {
    const decisions = /decisions\s+(\d+): OPEN (\d+) · DENY (\d+) · STAFF (\d+) · ERROR (\d+)/.exec(out);
    expect(decisions).not.toBeNull();
    const [, total, ...parts] = decisions!.map(Number);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
    const events = /events\s+backend stored (\d+) \(ack upTo (\d+)\); gate's last seq (\d+), outbox depth (\d+)/.exec(out);
    expect(events).not.toBeNull();
    const [, stored, ack, lastSeq, depth] = events!.map(Number);
    expect([stored, ack, depth]).toEqual([lastSeq, lastSeq, 0]);
    expect(out).toMatch(/R\/status\s+session \d+ · trust v1 · policy v1 · tokens v1 [\s\S]*look-ups 1 asked, 1 answered/);
  });

  it('prints nothing personal: no ID number, no code text, no unmasked name', () => {
    for (const id of ['11010519491231002X', '110105194912310021', '440524188001010014']) expect(out).not.toContain(id);
    expect(out).not.toMatch(/\d{17}[\dX]/);
    expect(out).not.toMatch(/HP1:/);
    for (const name of ['李四', '陈静']) expect(out).not.toContain(name);
  });
});
