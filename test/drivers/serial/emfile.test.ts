/**
 * Issue 11 defect 4: EMFILE crashed the service — an uncaught `spawn udevadm EMFILE` during a serial
 * reconnect. bindings-cpp's list() spawns udevadm and, when the spawn fails for want of
 * descriptors, leaves the child's 'error' event without a listener. Resource exhaustion must be
 * logged (one line, rate-limited) and survived with a retry through the backoff.
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { SupervisedPort } from '../../../drivers/serial/supervised-port.js';
import { listDevSerial } from '../../../drivers/serial/binding.js';
import { waitFor } from '../../helpers/wait.js';
import { MockBinding } from './transports.js';

const emfile = (syscall: string): Error => Object.assign(new Error(`${syscall} EMFILE`), { code: 'EMFILE', errno: -24, syscall });

/** A list() that behaves as bindings-cpp's does when spawning udevadm hits EMFILE. */
function crashingList(calls: { n: number }): () => Promise<never> {
  return () => {
    calls.n++;
    const child = new EventEmitter(); // no 'error' listener: emitting it throws, uncaught
    process.nextTick(() => child.emit('error', emfile('spawn udevadm')));
    throw new TypeError("Cannot read properties of undefined (reading 'pipe')");
  };
}

describe('defect 4: resource exhaustion during a serial reconnect', () => {
  let port: SupervisedPort | null = null;
  afterEach(async () => {
    await port?.stop();
    port = null;
  });

  it('defect 4: open failing with EMFILE is retried through the backoff, logged once, and never lists ports (spawn udevadm)', async () => {
    const path = '/dev/mock/ttyEMFILE';
    MockBinding.createPort(path);
    let exhausted = 4;
    const listCalls = { n: 0 };
    const binding = {
      list: crashingList(listCalls),
      open: (options: OpenOptions) => (exhausted-- > 0 ? Promise.reject(emfile('open')) : MockBinding.open(options)),
    };
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, error: (_o: object, m?: string) => void warnings.push(`error ${m}`), warn: (_o: object, m?: string) => void warnings.push(m ?? '') };
    port = new SupervisedPort({ binding, path, baudRate: 9600, backoff: { initialMs: 5, maxMs: 20, jitter: 0 }, presenceCheckMs: 0, logger });
    await port.start();
    await waitFor(() => port!.state === 'connected', { what: 'the port open once descriptors are back', timeoutMs: 3000 });
    expect(port.counters.openFailures).toBe(4);
    expect(port.counters.opens).toBe(1);
    expect(listCalls.n).toBe(0);
    expect(warnings).toEqual(['serial port open: resource exhausted; retrying with backoff']);
  });

  it('defect 4: a port list that fails while out of descriptors rejects quietly (no process is spawned to list)', async () => {
    expect(Array.isArray(await listDevSerial())).toBe(true);
    expect(await listDevSerial('/nonexistent/dev')).toEqual([]);
  });
});

const DIST = join(import.meta.dirname, '../../../dist/drivers/serial');

describe('defect 4 against the real system binding, with the process out of descriptors (ulimit -n)', () => {
  it('defect 4: a serial reconnect under real EMFILE survives: no uncaught spawn udevadm EMFILE', () => {
    if (!existsSync(join(DIST, 'supervised-port.js'))) throw new Error(`${DIST} is missing: build first (npx tsc -p tsconfig.json)`);
    const script = `
      import { openSync } from 'node:fs';
      const { loadSystemSerialBinding, listSerialPorts } = await import(${JSON.stringify(join(DIST, 'binding.js'))});
      const { SupervisedPort } = await import(${JSON.stringify(join(DIST, 'supervised-port.js'))});
      const binding = await loadSystemSerialBinding();
      const lines = [];
      const logger = { debug() {}, info() {}, warn: (_o, m) => lines.push(m), error: (_o, m) => lines.push(m) };
      const port = new SupervisedPort({ binding, path: '/dev/ttyPASSGATE-NONE', baudRate: 9600, presenceCheckMs: 0, backoff: { initialMs: 10, maxMs: 20, jitter: 0 }, logger });
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (e) { lines.push('exhausted ' + e.code); }
      const listed = await listSerialPorts(binding);
      await port.start();
      await new Promise((r) => setTimeout(r, 300));
      await port.stop();
      process.stdout.write(JSON.stringify({ listed: listed.length, failures: port.counters.openFailures, lastError: port.lastError, lines }) + '\\n');
    `;
    const r = spawnSync('bash', ['-c', 'ulimit -n 128 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).not.toMatch(/EMFILE|Error/);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { failures: number; lastError: string; lines: string[] };
    expect(out.lines[0]).toBe('exhausted EMFILE');
    expect(out.failures).toBeGreaterThanOrEqual(2);
    expect(out.lastError).toMatch(/too many open files/i);
    expect(out.lines.slice(1)).toEqual(['serial port open: resource exhausted; retrying with backoff']);
  });
});
