/**
 * A real mosquitto on a free loopback port with a generated config, for the sync tests and the
 * benchmarks (test/helpers/mosquitto.ts re-exports it). stop() and start() simulate an outage;
 * restart() does both. With `persistence false` a restarted broker has forgotten every retained
 * message and session, as after a crash — what the gate and the backend must survive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface MosquittoOptions {
  /** Default: a free port chosen by the OS. */
  port?: number;
  /** Extra config lines (e.g. a TLS listener). */
  extraConfig?: string[];
  /** Path of the binary, default `mosquitto` on PATH (CI installs the Debian package). */
  binary?: string;
}

export interface Mosquitto {
  url: string;
  port: number;
  /** Starts the broker again after stop(), on the same port. */
  start(): Promise<void>;
  /** Stops the broker (SIGTERM, then SIGKILL after 5 s). The port stays reserved for start(). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** The broker's recent log lines (diagnostics in failing tests). */
  logs(): string[];
  /** Stops the broker and removes its temporary directory. */
  dispose(): Promise<void>;
}

export function mosquittoConfig(port: number, extra: string[] = []): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Like a crash of a broker without a persistent store: retained messages and sessions go with it.
    'persistence false',
    // DELIBERATELY unlimited. mosquitto's default max_queued_messages 1000 silently drops QoS 1
    // messages beyond 1000 queued for one client (measured: 1533 of a 5000 burst arrived). A gate
    // draining its outbox after an outage, or a snapshot streamed to a gate, is exactly such a burst;
    // the outbox resends what is not acked, but a broker that drops by design makes every outage a
    // retransmission storm. Production brokers must set this too (see docs/mqtt-api.md).
    'max_queued_messages 0',
    // QoS 1 messages in flight to one client at a time (the rest wait in the queue above). 100 keeps
    // a backend subscriber busy across its round trips; mosquitto's default is 20.
    'max_inflight_messages 100',
    'set_tcp_nodelay true',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...extra,
    '',
  ].join('\n');
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'passgate-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(port, options.extraConfig));
  const lines: string[] = [];
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    if (child) return;
    const p = spawn(options.binary ?? 'mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    const keep = (b: Buffer) => {
      for (const l of b.toString('utf8').split('\n')) if (l) lines.push(l);
      if (lines.length > 500) lines.splice(0, lines.length - 500);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    const exited = new Promise<never>((_, reject) => {
      p.once('error', (e) => reject(new Error(`mosquitto did not start: ${e.message} (is it installed? apt-get install mosquitto)`)));
      p.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${lines.slice(-5).join(' | ')}`)));
    });
    exited.catch(() => {});
    p.once('exit', () => {
      if (child === p) child = null;
    });
    await Promise.race([waitForPort(port, 10_000), exited]);
  };

  const stop = async (): Promise<void> => {
    const p = child;
    if (!p) return;
    child = null;
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  };

  try {
    await start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    logs: () => [...lines],
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
