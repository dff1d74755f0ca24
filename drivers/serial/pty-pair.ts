/**
 * A socat pty pair for integration tests and benchmarks (platform.md §2.2):
 * `socat -d -d pty,raw,echo=0,link=<dir>/a pty,raw,echo=0,link=<dir>/b`. The links stand in for
 * `/dev/serial/by-id/…` names: `stop()` + `start()` is an unplug and replug (new ptys, same links).
 * Development tooling, not used by the gate at run time. Needs `socat` (`apt-get install -y socat`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceError, PassgateError } from '../../base/errors.js';

export function socatAvailable(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export class PtyPair {
  readonly dir: string;
  /** The host's side (the driver opens this). */
  readonly a: string;
  /** The device's side (the fake device opens this). */
  readonly b: string;
  #proc: ChildProcess | null = null;

  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'passgate-pty-'));
    this.a = join(this.dir, 'a');
    this.b = join(this.dir, 'b');
  }

  get running(): boolean {
    return this.#proc !== null;
  }

  async start(timeoutMs = 5000): Promise<void> {
    if (this.#proc) return;
    if (!socatAvailable()) throw new PassgateError('DEVICE_NOT_FOUND', 'socat not found: apt-get install -y socat');
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#proc = proc;
    // Listened to at once: a spawn that fails (EMFILE, ENOENT) reports it as an 'error' event.
    let spawnError: unknown = null;
    proc.on('error', (err) => (spawnError = err));
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (!(stderr.includes('starting data transfer loop') && existsSync(this.a) && existsSync(this.b))) {
      if (spawnError !== null) {
        this.#proc = null;
        throw deviceError(spawnError, 'socat');
      }
      if (proc.exitCode !== null || Date.now() > deadline) {
        this.#proc = null;
        proc.kill('SIGKILL');
        await exited;
        throw new PassgateError('DEVICE_IO', `socat did not start: ${stderr.trim().slice(-300)}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Kills socat: both ptys vanish (an unplug), the links are removed. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops socat and removes the directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
