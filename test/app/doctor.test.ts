/**
 * passgate doctor: a healthy simulated gate is all OK; then, one check at a time, its fault is
 * injected and that check (and the exit status) shows FAIL. What cannot be judged is a WARN.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { makeGate, T0, type TestGate } from '../helpers/gate.js';
import { defaultDoctorEnv, exitStatus, probeMqttBroker, runDoctor, type CheckResult, type DoctorEnv } from '../../app/doctor.js';
import type { RunCommand } from '../../device/clock-trust.js';

const UID = 4321;
const isRoot = process.getuid?.() === 0;
const ACTIVE = 'LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nNRestarts=0\nResult=success\n';

let gate: TestGate;
let root: string;
let configFile: string;
let config: Record<string, unknown>;
let systemctl: string | null;

const run: RunCommand = async (cmd) => (cmd === 'systemctl' ? systemctl : null);
function env(o: Partial<DoctorEnv> = {}): DoctorEnv {
  return defaultDoctorEnv({
    root,
    run,
    now: () => (T0 + 60) * 1000,
    probeSync: async () => ({ synchronised: true, source: 'test' }),
    probeBroker: async () => ({ stage: 'auth', ok: true, detail: 'credentials accepted' }),
    minFreeBytes: 0,
    lowFreeBytes: 0,
    ...o,
  });
}
function writeConfig(change: (c: Record<string, any>) => void = () => {}): void {
  const c = structuredClone(config);
  change(c);
  writeFileSync(configFile, JSON.stringify(c));
}
async function doctor(o: Partial<DoctorEnv> = {}): Promise<CheckResult[]> {
  return runDoctor(configFile, env(o));
}
const level = (rs: CheckResult[], check: string) => rs.filter((r) => r.check.startsWith(check)).map((r) => r.level);
function expectFail(rs: CheckResult[], check: string): void {
  expect(level(rs, check), JSON.stringify(rs, null, 1)).toContain('FAIL');
  expect(rs.find((r) => r.check.startsWith(check) && r.level === 'FAIL')!.fix).toBeTruthy();
  expect(exitStatus(rs)).toBe(2);
}

beforeEach(() => {
  gate = makeGate({ policy: {} });
  gate.freshLists();
  root = mkdtempSync(join(tmpdir(), 'passgate-doctor-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), `root:x:0:0::/root:/bin/sh\npassgate:x:${UID}:${UID}::/var/lib/passgate:/usr/sbin/nologin\n`);
  writeFileSync(join(root, 'etc/group'), `passgate:x:${UID}:\ndialout:x:20:passgate\ngpio:x:997:passgate\n`);
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'dev/qrscanner'), '');
  writeFileSync(join(root, 'dev/idreader'), '');
  const gpio = join(root, 'sys/class/gpio');
  mkdirSync(join(gpio, 'gpiochip571'), { recursive: true });
  writeFileSync(join(gpio, 'export'), '');
  writeFileSync(join(gpio, 'gpiochip571/label'), 'pinctrl-rp1\n');
  writeFileSync(join(gpio, 'gpiochip571/base'), '571\n');
  writeFileSync(join(gpio, 'gpiochip571/ngpio'), '54\n');
  if (isRoot) {
    for (const f of ['dev/qrscanner', 'dev/idreader']) {
      chownSync(join(root, f), 0, 20);
      chmodSync(join(root, f), 0o660);
    }
    chownSync(join(gpio, 'export'), 0, 997);
    chmodSync(join(gpio, 'export'), 0o220);
    chownSync(gate.dir, UID, UID);
    chmodSync(gate.dir, 0o750);
  }
  configFile = join(root, 'config.json');
  config = {
    dataDir: gate.dir,
    scanners: [{ type: 'serial', path: '/dev/qrscanner' }],
    idReader: { type: 'serial', path: '/dev/idreader' },
    gpio: { relay: { line: 17, activeLow: true }, passage: { line: 27 } },
    mqtt: { url: 'mqtt://127.0.0.1:1883', username: 'gate' },
  };
  writeConfig();
  systemctl = ACTIVE;
});
afterEach(() => {
  gate.close();
  rmSync(root, { recursive: true, force: true });
});

describe('passgate doctor', () => {
  it.skipIf(!isRoot)('a healthy gate: every check OK, exit 0', async () => {
    const rs = await doctor();
    expect(rs.filter((r) => r.level !== 'OK'), JSON.stringify(rs, null, 1)).toEqual([]);
    expect(exitStatus(rs)).toBe(0);
    expect(rs.map((r) => r.check)).toEqual(
      expect.arrayContaining(['config', 'data directory', 'free space', 'store integrity', 'trust', 'policy', 'list tokens', 'list holders', 'clock', 'broker', 'scanner0', 'id reader', 'gpio', 'systemd unit']),
    );
  });

  it('what cannot be judged here (no systemd, no service user, no time daemon) is a WARN, never a FAIL', async () => {
    rmSync(join(root, 'etc/passwd'));
    systemctl = null;
    const rs = await doctor({ probeSync: async () => ({ synchronised: null, source: 'no time daemon answered' }) });
    expect(rs.filter((r) => r.level === 'FAIL'), JSON.stringify(rs, null, 1)).toEqual([]);
    expect(level(rs, 'systemd unit')).toEqual(['WARN']);
    expect(level(rs, 'clock')).toEqual(['WARN']);
    expect(level(rs, 'data directory')).toEqual(['WARN']);
    expect(exitStatus(rs)).toBe(1);
  });

  it('config: an invalid configuration FAILs', async () => {
    writeConfig((c) => (c.gpio.relay.line = 'seventeen'));
    expectFail(await doctor(), 'config');
  });

  it('data directory: missing FAILs', async () => {
    writeConfig((c) => (c.dataDir = join(root, 'nowhere')));
    expectFail(await doctor(), 'data directory');
  });

  it.skipIf(!isRoot)('data directory: owned by someone else FAILs', async () => {
    chownSync(gate.dir, 0, 0);
    expectFail(await doctor(), 'data directory owner');
  });

  it.skipIf(!isRoot)('data directory: not writable by the service user FAILs', async () => {
    chmodSync(gate.dir, 0o550);
    expectFail(await doctor(), 'data directory writable');
  });

  it('free space: too little FAILs', async () => {
    expectFail(await doctor({ minFreeBytes: Number.MAX_SAFE_INTEGER }), 'free space');
  });

  it('store integrity: a damaged store FAILs', async () => {
    gate.store.close();
    writeFileSync(join(gate.dir, 'passgate.db'), Buffer.alloc(8192, 0x5a));
    gate.store = { close() {} } as never;
    expectFail(await doctor(), 'store integrity');
  });

  it('trust: an expired bundle FAILs', async () => {
    expectFail(await doctor({ now: () => (T0 + 30 * 86400) * 1000 }), 'trust');
  });

  it('lists: lists never received FAIL (decisions would be held as LIST_STALE)', async () => {
    const fresh = makeGate({ policy: {} });
    try {
      writeConfig((c) => (c.dataDir = fresh.dir));
      expectFail(await doctor(), 'list tokens');
    } finally {
      fresh.close();
    }
  });

  it('clock: behind the last known time FAILs', async () => {
    gate.store.raiseClockFloor((T0 + 3600) * 1000);
    expectFail(await doctor(), 'clock');
  });

  it('clock: a time daemon that says unsynchronised FAILs', async () => {
    expectFail(await doctor({ probeSync: async () => ({ synchronised: false, source: 'timedatectl' }) }), 'clock');
  });

  it('broker: unreachable FAILs (a real TCP attempt at a closed port)', async () => {
    const probe = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    writeConfig((c) => (c.mqtt.url = `mqtt://127.0.0.1:${probe}`));
    expectFail(await doctor({ probeBroker: probeMqttBroker }), 'broker reachable');
  });

  it('broker: credentials refused FAILs (a real broker that refuses them)', async () => {
    const broker = await Aedes.createBroker({ authenticate: (_c, username, _p, done) => done(null, username === 'someone-else') });
    const server: Server = createServer((s) => broker.handle(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      writeConfig((c) => (c.mqtt.url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`));
      expectFail(await doctor({ probeBroker: probeMqttBroker }), 'broker credentials');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    }
  });

  it('broker: a missing TLS file FAILs', async () => {
    writeConfig((c) => (c.mqtt = { url: 'mqtts://127.0.0.1:8883', tls: { ca: join(root, 'ca.pem') } }));
    expectFail(await doctor(), 'broker TLS');
  });

  it('devices: a missing scanner FAILs', async () => {
    rmSync(join(root, 'dev/qrscanner'));
    expectFail(await doctor(), 'scanner0');
  });

  it.skipIf(!isRoot)('devices: a reader the service user cannot open FAILs', async () => {
    chmodSync(join(root, 'dev/idreader'), 0o600);
    expectFail(await doctor(), 'id reader');
  });

  it('gpio: no GPIO chip FAILs', async () => {
    rmSync(join(root, 'sys/class/gpio/gpiochip571'), { recursive: true });
    expectFail(await doctor(), 'gpio');
  });

  it('gpio: a line the chip does not have FAILs', async () => {
    writeConfig((c) => (c.gpio.relay.line = 60));
    expectFail(await doctor(), 'gpio');
  });

  it('systemd unit: a failed unit FAILs', async () => {
    systemctl = ACTIVE.replace('ActiveState=active', 'ActiveState=failed').replace('Result=success', 'Result=exit-code');
    expectFail(await doctor(), 'systemd unit');
  });
});
