/** `npm start -- --serve`: the demo gate stays up with its console and a demo guard; Ctrl-C stops it cleanly. */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { signIn } from '../../scripts/lib/console-client.js';
import { waitFor } from '../helpers/wait.js';

const DEMO = 'dist/scripts/demo/main.js';

describe('npm start -- --serve', () => {
  it('prints the console URL and a demo guard password that signs in; SIGINT stops it cleanly', async () => {
    if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: build first (npm test does)`);
    const child = spawn(process.execPath, [DEMO, '--fast', '--serve'], { env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    try {
      const m = await waitFor(() => /guard console\s+(http:\/\/127\.0\.0\.1:\d+)\/\n\s+sign in as\s+(\S+)\s+password (\S+)/.exec(out), { what: 'the console URL and password', timeoutMs: 60_000 });
      const [, url, name, password] = m;
      const guard = await signIn(url!, name!, password!);
      const page = await (await guard.get('/')).text();
      expect(page).toContain(name!);
      const view = (await (await guard.get('/api/view')).json()) as { live: unknown[]; status: { site: string } };
      expect(view.status.site).toBe('metro-line-2');
    } finally {
      child.kill('SIGINT');
    }
    expect(await closed).toBe(0);
    expect(out).toMatch(/shutdown: relay released.*data dir removed/);
    expect(err).toBe('');
  }, 90_000);
});
