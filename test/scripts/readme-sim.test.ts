/**
 * The README's "Run the real service without hardware" recipe, followed as written: its first shell
 * block runs in bash (the `npm run setup && npm ci` before it is the test command's own job), the
 * last line — the service — in the background; then the second block's scan, and the decision shows
 * in the log and in /metrics. Also: every relative link in the README and docs/ works in a clone.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { waitFor } from '../helpers/wait.js';

const README = readFileSync('README.md', 'utf8');
const SIM = '/tmp/passgate-sim';
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function blocksOf(section: string): string[] {
  const start = README.indexOf(`## ${section}`);
  const body = README.slice(start, README.indexOf('\n## ', start + 3));
  return [...body.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let shell: ChildProcess | null = null;
afterAll(() => {
  if (shell?.pid) {
    try {
      process.kill(-shell.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  rmSync(SIM, { recursive: true, force: true });
});

describe('README', () => {
  it('every relative link works in a clone, and docs/protocol.md is there', () => {
    const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
    for (const file of files) {
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        expect(existsSync(join(dirname(file), target!)), `${file} → ${target}`).toBe(true);
      }
    }
    expect(README).toContain('(docs/protocol.md)');
    expect(readFileSync('docs/protocol.md', 'utf8')).toMatch(/Revisions/);
  });

  it('the test command works on a root shell and with sudo (no bare sudo)', () => {
    expect(README).toMatch(/npm run setup && npm ci && npm test/);
    expect(README).not.toMatch(/^sudo /m);
    const setup = readFileSync('scripts/setup.sh', 'utf8');
    expect(setup).toMatch(/id -u.*= 0/);
    expect(setup).toMatch(/command -v sudo/);
  });

  it("the recipe starts the service with the systemd unit's node flags (the memory bench reads them from the unit)", () => {
    const nodeFlags = (line: string) => /\bnode((?:\s+--\S+)*)\s+\S*dist\/app\/main\.js/.exec(line)?.[1]?.trim() ?? null;
    const unitLine = readFileSync('systemd/passgate.service', 'utf8').split('\n').find((l) => l.startsWith('ExecStart='))!;
    const recipeLine = blocksOf('Run the real service without hardware')[0]!.split('\n').find((l) => l.includes('dist/app/main.js'))!;
    expect(nodeFlags(unitLine)).toMatch(/--max-semi-space-size=1/);
    expect(nodeFlags(recipeLine)).toBe(nodeFlags(unitLine));
    // …and its environment (NODE_ENV aside: the service does not read it; dependencies may).
    const unitEnv = [...readFileSync('systemd/passgate.service', 'utf8').matchAll(/^Environment=(\S+)$/gm)].map((m) => m[1]!).filter((v) => !v.startsWith('NODE_ENV='));
    expect(unitEnv).toContain('MALLOC_ARENA_MAX=2');
    expect(recipeLine.split(/\s+node\s/)[0]!.split(/\s+/).filter(Boolean).sort()).toEqual(unitEnv.sort());
  });

  it.skipIf(!have('socat') || !have('mosquitto'))('runs the real service without hardware, exactly as written', { timeout: 180_000 }, async () => {
    rmSync(SIM, { recursive: true, force: true });
    const [setupBlock, scanBlock] = blocksOf('Run the real service without hardware');
    const lines = setupBlock!.split('\n').filter((l) => l.trim());
    const service = lines.pop()!;
    expect(service).toMatch(/dist\/app\/main\.js --config systemd\/config\.sim\.example\.json/);
    // Not `exec`: the line starts with an environment assignment, as a reader types it.
    const script = `${lines.join('\n')}\n${service.replace(/\s+#.*$/, '')}\n`;
    let log = '';
    shell = spawn('bash', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    shell.stdout!.on('data', (d) => (log += d));
    shell.stderr!.on('data', (d) => (log += d));
    await waitFor(() => log.includes('"msg":"ready"'), { what: `the service ready; log so far:\n${log}`, timeoutMs: 150_000 });

    const scan = spawnSync('bash', ['-c', scanBlock!.split('\n')[0]!], { encoding: 'utf8' });
    expect(scan.status, scan.stderr).toBe(0);
    await waitFor(() => /"msg":"decision"/.test(log), { what: 'a decision in the log', timeoutMs: 20_000 });
    expect(log).toMatch(/"result":"open","reason":"OK"/);
    const metrics = spawnSync('bash', ['-c', scanBlock!.split('\n')[1]!], { encoding: 'utf8' });
    expect(metrics.stdout).toMatch(/^passgate_decisions_total\{result="open",reason="OK"\} 1$/m);
  });
});
