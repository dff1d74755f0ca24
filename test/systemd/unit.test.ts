/**
 * The systemd unit: a configuration error (exit 78) must not restart-loop, and the unit passes
 * `systemd-analyze verify` (as installed: install.sh puts the application directory in place of /opt/passgate).
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const UNIT = readFileSync('systemd/passgate.service', 'utf8');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const hasAnalyze = analyze.status === 0;

function directive(name: string): string[] {
  return [...UNIT.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

describe('systemd unit', () => {
  it('exit 78 (bad configuration, uninitialised data directory) is not restarted', () => {
    expect(directive('Restart')).toEqual(['always']);
    expect(directive('RestartPreventExitStatus').join(' ').split(/\s+/)).toContain('78');
    // the service's own exit code for a configuration error is that one
    expect(readFileSync('device/main.ts', 'utf8')).toMatch(/EXIT_CONFIG = 78/);
    // the relay-safe pre-start never fails the unit on a bad file (it would hide the 78)
    expect(readFileSync('systemd/relay-safe.sh', 'utf8')).toMatch(/nothing done"; exit 0/);
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'passgate-unit-'));
    try {
      const unit = join(dir, 'passgate.service');
      writeFileSync(unit, UNIT.replaceAll('/opt/passgate', resolve('.')));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('passgate.service'));
      expect(complaints, complaints.join('\n')).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  if (!hasAnalyze) it.skip('systemd-analyze verify: skipped, systemd-analyze is not installed here', () => {});
});
