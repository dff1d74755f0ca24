/**
 * passgate selftest on the simulated gate: in-memory GPIO (the relay and LEDs watched), a code scanner
 * on a socat pty, an ID reader on another pty that never answers.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PtyPair, socatAvailable } from '../../drivers/serial/pty-pair.js';
import { MemoryGpio, RelayProbe } from '../../drivers/gpio/index.js';
import { runSelftest, type SelftestEnv } from '../../app/selftest.js';
import { exitStatus } from '../../app/doctor.js';

const hasSocat = socatAvailable();
let dir: string;
let scanner: PtyPair;
let reader: PtyPair;
let memory: MemoryGpio;
let relay: RelayProbe;
let said: string[];

function env(o: Partial<SelftestEnv> = {}): SelftestEnv {
  return { confirm: async () => true, say: (t) => said.push(t), run: async () => 'inactive\n', unit: 'passgate.service', waitMs: 3000, pulseMs: 50, memory, ...o };
}
function config(o: { leds?: boolean; reader?: boolean } = {}): string {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      scanners: [{ type: 'serial', path: scanner.a }],
      ...(o.reader ? { idReader: { type: 'serial', path: reader.a, pollMs: 100 } } : {}),
      gpio: { simulated: true, relay: { line: 17, activeLow: true }, ...(o.leds ? { leds: { green: { line: 5 }, red: { line: 6 } } } : {}) },
    }),
  );
  return file;
}
/** The technician scans a code: a line arrives at the scanner's pty once selftest asks for it. */
function scanWhenAsked(text: string): (t: string) => void {
  return (t) => {
    said.push(t);
    if (!/Scan any QR code/.test(t)) return;
    setTimeout(() => {
      const fd = openSync(scanner.b, 'w');
      writeSync(fd, `${text}\r`);
      closeSync(fd);
    }, 300);
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'passgate-selftest-'));
  said = [];
  memory = new MemoryGpio();
  relay = new RelayProbe(memory, 17, true);
  if (!hasSocat) return;
  scanner = new PtyPair();
  reader = new PtyPair();
  await scanner.start();
  await reader.start();
});
afterEach(async () => {
  await scanner?.stop();
  await reader?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasSocat)('passgate selftest', { timeout: 30_000 }, () => {
  it('pulses the relay (confirmed), shows each LED, and takes one code scan: all OK, nothing shown of the code', async () => {
    const questions: string[] = [];
    const rs = await runSelftest(config({ leds: true }), env({ confirm: async (q) => (questions.push(q), true), say: scanWhenAsked('HP1:SECRET-CONTENT') }));
    expect(rs.map((r) => [r.check, r.level])).toEqual([
      ['service stopped', 'OK'],
      ['relay', 'OK'],
      ['green LED', 'OK'],
      ['red LED', 'OK'],
      ['code scan', 'OK'],
    ]);
    expect(exitStatus(rs)).toBe(0);
    // pulsed once, then released for good (close re-asserts it; a level re-asserted is not a change)
    expect(relay.changesSince(0).map((w) => w.energised)).toEqual([true, false]);
    expect(relay.writes[0]).toMatchObject({ energised: false }); // claimed released
    expect(questions[0]).toMatch(/click/);
    expect(said.join('\n')).not.toContain('SECRET');
  });

  it('no click heard, and no card within the time: FAIL with the fix, exit 2', async () => {
    const rs = await runSelftest(config({ reader: true }), env({ confirm: async () => false, say: scanWhenAsked('HP1:x'), waitMs: 1500 }));
    expect(rs.find((r) => r.check === 'relay')).toMatchObject({ level: 'FAIL', fix: expect.stringMatching(/wiring/) });
    expect(rs.find((r) => r.check === 'card read')).toMatchObject({ level: 'FAIL', fix: expect.any(String) });
    expect(exitStatus(rs)).toBe(2);
    expect(relay.writes.length).toBeGreaterThan(0);
    expect(relay.energised).toBe(false); // left released
  });

  it('refuses to run while the service runs', async () => {
    const rs = await runSelftest(config(), env({ run: async () => 'active\n' }));
    expect(rs).toEqual([expect.objectContaining({ check: 'service stopped', level: 'FAIL' })]);
    expect(relay.writes).toEqual([]);
  });
});
