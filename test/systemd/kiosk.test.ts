/** The kiosk unit and install.sh --kiosk, as far as a machine without a touchscreen can check them. */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../device/config.js';
import { guardConsoleSettings } from '../../app/compose.js';

const root = join(import.meta.dirname, '..', '..');
const UNIT = join(root, 'systemd', 'passgate-kiosk.service');

describe('kiosk', () => {
  it("the unit's ExecStart opens the console's kiosk URL (default port) in chromium kiosk mode under cage", () => {
    const unit = readFileSync(UNIT, 'utf8');
    const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
    const port = parseConfig({ gpio: { relay: { line: 17, activeLow: true } } }).guardConsole.port;
    expect(exec).toContain(`"http://127.0.0.1:${port}/kiosk/$(cat "$CREDENTIALS_DIRECTORY/kiosk-token")"`);
    expect(exec).toMatch(/\/usr\/bin\/cage -s -- \/usr\/bin\/chromium --kiosk /);
    expect(unit).toContain('LoadCredential=kiosk-token:/etc/passgate/kiosk-token');
    expect(unit).toContain(`http://127.0.0.1:${port}/health`);
    expect(unit).toMatch(/^User=passgate-kiosk$/m);
  });

  it('systemd-analyze verify accepts the unit (when systemd-analyze is present)', () => {
    if (!existsSync('/usr/bin/systemd-analyze')) return;
    const r = spawnSync('/usr/bin/systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(r.stderr.split('\n').filter((l) => l.includes('passgate-kiosk'))).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('install.sh --kiosk makes a token the service accepts, installs the unit, and changes nothing the second time', () => {
    const dest = mkdtempSync(join(tmpdir(), 'passgate-kiosk-'));
    try {
      const run = () => execFileSync('sh', [join(root, 'systemd', 'install.sh'), '--kiosk'], { env: { ...process.env, DESTDIR: dest }, encoding: 'utf8' });
      run();
      const tokenFile = join(dest, 'etc', 'passgate', 'kiosk-token');
      expect(statSync(tokenFile).mode & 0o007).toBe(0); // nobody else reads it
      const config = parseConfig({ gpio: { relay: { line: 17, activeLow: true } }, guardConsole: { kiosk: { guard: 'kiosk', tokenFile } } });
      const settings = guardConsoleSettings(config);
      expect(settings.kiosk?.guard).toBe('kiosk');
      expect(settings.kiosk?.token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      expect(readFileSync(join(dest, 'etc', 'systemd', 'system', 'passgate-kiosk.service'), 'utf8')).toContain('/kiosk/');
      const second = run();
      expect(second).not.toMatch(/installed \//);
      expect(second).not.toContain('made a kiosk token');
      expect(guardConsoleSettings(config).kiosk?.token).toBe(settings.kiosk?.token);
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });
});
