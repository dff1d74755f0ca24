/**
 * `passgate doctor`: one line per check, OK / WARN / FAIL, with the fix for anything not OK. Exit
 * status 0 all OK, 1 worst WARN, 2 any FAIL.
 *
 * Everything the checks touch comes through DoctorEnv — the filesystem root (so tests fake /dev,
 * /sys, /run, /etc/passwd), the commands it runs (systemctl, timedatectl, chronyc) and the broker
 * probe — so each check can be shown failing with its fault injected. What cannot be judged where
 * doctor runs (no systemd, no service user, no time daemon: a developer's machine, CI) is a WARN
 * saying so, never a FAIL.
 *
 * Doctor never writes to the gate: it opens the store read-only and hands back to the store's owner
 * any -wal/-shm file SQLite had to create (doctor usually runs as root; the service does not).
 */
import { accessSync, chownSync, constants, existsSync, readFileSync, readdirSync, statSync, statfsSync, type Stats } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, loadConfig, type Config } from '../device/config.js';
import { DB_FILE, GateStore } from '../device/store/store.js';
import { TrustingClock, probeTimeSync, runCommand, type RunCommand, type SyncReport } from '../device/clock-trust.js';
import { gateStatus } from '../device/status.js';
import { loadPolicy } from '../device/documents.js';
import { SysfsGpio } from '../drivers/gpio/sysfs.js';

export type Level = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  check: string;
  level: Level;
  detail: string;
  /** What to do about it (anything not OK). */
  fix?: string;
}

export interface BrokerProbe {
  /** `tcp`: reached; `tls`: handshake and certificate accepted; `auth`: CONNACK accepted. */
  (m: NonNullable<Config['mqtt']>, password: string | undefined): Promise<{ stage: 'tcp' | 'tls' | 'auth'; ok: boolean; detail: string }>;
}

export interface DoctorEnv {
  /** Filesystem root for /dev, /sys, /run and /etc (tests pass a fake tree). */
  root: string;
  serviceUser: string;
  unit: string;
  run: RunCommand;
  now: () => number;
  probeBroker: BrokerProbe;
  probeSync: () => Promise<SyncReport>;
  /** Free space below which the data directory FAILs / WARNs (bytes). */
  minFreeBytes: number;
  lowFreeBytes: number;
}

export function defaultDoctorEnv(overrides: Partial<DoctorEnv> = {}): DoctorEnv {
  const root = overrides.root ?? '/';
  const run = overrides.run ?? runCommand;
  return {
    root,
    serviceUser: 'passgate',
    unit: 'passgate.service',
    run,
    now: Date.now,
    probeBroker: probeMqttBroker,
    probeSync: () => probeTimeSync({ root, run }),
    minFreeBytes: 50 * 1024 * 1024,
    lowFreeBytes: 500 * 1024 * 1024,
    ...overrides,
  };
}

const ok = (check: string, detail: string): CheckResult => ({ check, level: 'OK', detail });
const warn = (check: string, detail: string, fix: string): CheckResult => ({ check, level: 'WARN', detail, fix });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, level: 'FAIL', detail, fix });

export async function runDoctor(configFile: string, env: DoctorEnv): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: Config;
  try {
    config = loadConfig(configFile);
    results.push(ok('config', `${configFile} is valid`));
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems.join('; ') : (e as Error).message;
    results.push(fail('config', problems, `fix ${configFile} (every option: docs/configuration.md), or write one with passgate provision`));
    return results; // nothing else can be judged without it
  }
  const user = lookupUser(env.root, env.serviceUser);
  results.push(...checkDataDir(config, user, env));
  const store = results.some((r) => r.check.startsWith('data directory') && r.level === 'FAIL' && r.detail.includes('missing')) ? null : openReadOnly(config.dataDir);
  results.push(storeIntegrity(config.dataDir, store));
  let clockResult: CheckResult;
  if (store) {
    try {
      results.push(...documents(store, env, config));
      clockResult = await clockCheck(config, env, store.clockFloorMs());
    } finally {
      store.close();
    }
  } else {
    clockResult = await clockCheck(config, env, 0);
  }
  restoreOwnership(config.dataDir);
  results.push(clockResult);
  results.push(...(await brokerChecks(config, env)));
  results.push(...deviceChecks(config, user, env));
  results.push(gpioCheck(config, user, env));
  results.push(await systemdCheck(env));
  return results;
}

export function exitStatus(results: readonly CheckResult[]): 0 | 1 | 2 {
  if (results.some((r) => r.level === 'FAIL')) return 2;
  if (results.some((r) => r.level === 'WARN')) return 1;
  return 0;
}

export function formatResults(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length));
  return results
    .map((r) => `${r.level.padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}${r.fix ? `\n${' '.repeat(6 + width + 2)}fix: ${r.fix}` : ''}`)
    .join('\n');
}

// --- service user ------------------------------------------------------------------------------------

interface User {
  name: string;
  uid: number;
  gid: number;
  groups: Set<number>;
}

/** From `<root>/etc/passwd` and `<root>/etc/group`: the service user and every group it is in. */
export function lookupUser(root: string, name: string): User | null {
  let passwd: string;
  try {
    passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
  } catch {
    return null;
  }
  const entry = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!entry) return null;
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  const groups = new Set([gid]);
  try {
    for (const line of readFileSync(join(root, 'etc/group'), 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && f[3]!.split(',').includes(name)) groups.add(Number(f[2]));
    }
  } catch {
    /* no group file: the primary group only */
  }
  return { name, uid, gid, groups };
}

/** Whether `user` may read (and write) a file with these stats, by its mode bits. */
function permits(st: Stats, user: User, need: 'rw' | 'w'): boolean {
  if (user.uid === 0) return true;
  const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : user.groups.has(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & 2) !== 0 && (need === 'w' || (bits & 4) !== 0);
}

const noUser = (env: DoctorEnv) => `there is no user ${env.serviceUser} here (a development machine?), so ownership and access were not judged`;

// --- data directory, store, documents ----------------------------------------------------------------

function checkDataDir(config: Config, user: User | null, env: DoctorEnv): CheckResult[] {
  const dir = config.dataDir;
  const name = 'data directory';
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    return [fail(name, `${dir} is missing`, `passgate provision --data-dir ${dir} … (or passgate init)`)];
  }
  if (!st.isDirectory()) return [fail(name, `${dir} is not a directory`, `move it away and run passgate provision`)];
  const out: CheckResult[] = [];
  if (!existsSync(join(dir, DB_FILE))) out.push(fail(name, `${dir} holds no gate store (${DB_FILE})`, `passgate provision --data-dir ${dir} … (or passgate init)`));
  else if (!user) out.push(warn(`${name} owner`, noUser(env), `create the user (systemd/install.sh) and run doctor on the gate`));
  else if (st.uid !== user.uid) out.push(fail(`${name} owner`, `${dir} is owned by uid ${st.uid}, not ${user.name} (${user.uid})`, `chown -R ${user.name}:${user.name} ${dir}`));
  else if (!permits(st, user, 'rw')) out.push(fail(`${name} writable`, `${user.name} cannot write ${dir} (mode ${(st.mode & 0o777).toString(8)})`, `chmod 0750 ${dir}`));
  else out.push(ok(name, `${dir} present, owned and writable by ${user.name}`));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    out.push(fail(`${name} writable`, `${dir} is not writable (read-only filesystem?)`, 'remount the filesystem read-write; check the SD card'));
  }
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const mb = (n: number) => `${Math.round(n / 1024 / 1024)} MB`;
  if (free < env.minFreeBytes) out.push(fail('free space', `${mb(free)} free on ${dir}`, 'free space (journalctl --vacuum-size=50M, remove old files) or use a bigger card'));
  else if (free < env.lowFreeBytes) out.push(warn('free space', `${mb(free)} free on ${dir}`, 'free space soon: the outbox and lists grow'));
  else out.push(ok('free space', `${mb(free)} free on ${dir}`));
  return out;
}

function openReadOnly(dir: string): GateStore | null {
  if (!existsSync(join(dir, DB_FILE))) return null;
  try {
    return GateStore.openReadOnly(dir);
  } catch {
    return null;
  }
}

/**
 * The store check: SQLite's own `quick_check`, the tables, and a gate identity. (The store's
 * repair-side integrity check, when present, is richer; this one needs nothing but a read.)
 */
export function storeIntegrity(dir: string, store: GateStore | null): CheckResult {
  const name = 'store integrity';
  const file = join(dir, DB_FILE);
  if (!existsSync(file)) return fail(name, `no store at ${file}`, `passgate provision --data-dir ${dir} …`);
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    const bad = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (bad.length) return fail(name, `SQLite quick_check: ${bad.slice(0, 3).join('; ')}`, 'stop the service and run passgate repair (or restore the data directory from a backup)');
  } catch (e) {
    return fail(name, `cannot read ${file}: ${(e as Error).message}`, 'stop the service and run passgate repair (or restore the data directory from a backup)');
  } finally {
    db?.close();
  }
  if (!store) return fail(name, `${file} could not be opened as a gate store`, 'stop the service and run passgate repair');
  const id = store.identity();
  if (!id) return fail(name, `${file} has no gate identity`, `passgate provision --data-dir ${dir} --site … --gate …`);
  return ok(name, `quick_check ok; gate ${id.site}/${id.gate}`);
}

function documents(store: GateStore, env: DoctorEnv, config: Config): CheckResult[] {
  const s = gateStatus(store, { nowMs: env.now, monoMs: () => 0, trusted: () => true });
  const out: CheckResult[] = [];
  const age = (sec: number | null) => (sec == null ? 'never' : sec < 120 ? `${sec} s ago` : sec < 7200 ? `${Math.round(sec / 60)} min ago` : `${Math.round(sec / 3600)} h ago`);
  const sync = config.mqtt ? 'check the broker link (doctor below) and the backend' : 'passgate import the latest trust bundle';
  if (!s.trust) out.push(fail('trust', 'no trust bundle: every code is refused', sync));
  else if (s.trust.stale) out.push(fail('trust', `version ${s.trust.version} expired at ${new Date((s.trust.expiresAt ?? 0) * 1000).toISOString()} (updated ${age(s.trust.ageSeconds)})`, sync));
  else out.push(ok('trust', `version ${s.trust.version}, ${s.trust.issuers} issuer(s), updated ${age(s.trust.ageSeconds)}`));
  if (s.policy.defaults) out.push(warn('policy', 'no signed policy: built-in defaults apply', sync));
  else out.push(ok('policy', `version ${s.policy.version}, updated ${age(s.policy.ageSeconds)}`));
  const maxAge = loadPolicy(store).listMaxAgeSeconds;
  for (const [name, l] of Object.entries(s.lists)) {
    if (l.version === 0 || l.ageSeconds === null) out.push(fail(`list ${name}`, `never received: decisions are held as LIST_STALE`, sync));
    else if (l.ageSeconds > maxAge) out.push(fail(`list ${name}`, `version ${l.version} updated ${age(l.ageSeconds)}, past policy listMaxAgeSeconds ${maxAge}: decisions are held as LIST_STALE`, sync));
    else if (l.ageSeconds > maxAge / 2) out.push(warn(`list ${name}`, `version ${l.version} updated ${age(l.ageSeconds)} (stale after ${Math.round(maxAge / 3600)} h)`, sync));
    else out.push(ok(`list ${name}`, `version ${l.version}, ${l.entries} entries, updated ${age(l.ageSeconds)}`));
  }
  return out;
}

/** Gives -wal/-shm files that a root doctor made back to the store's owner. */
function restoreOwnership(dir: string): void {
  try {
    const owner = statSync(join(dir, DB_FILE));
    for (const f of [`${DB_FILE}-wal`, `${DB_FILE}-shm`]) {
      const p = join(dir, f);
      if (existsSync(p) && statSync(p).uid !== owner.uid) chownSync(p, owner.uid, owner.gid);
    }
  } catch {
    /* nothing to hand back */
  }
}

// --- clock -------------------------------------------------------------------------------------------

async function clockCheck(config: Config, env: DoctorEnv, floorMs: number): Promise<CheckResult> {
  const clock = new TrustingClock({
    mode: config.clock.trusted,
    floorMs: () => floorMs,
    now: env.now,
    probe: env.probeSync,
    exists: (p) => existsSync(join(env.root, p)),
    ...(config.clock.rtc ? { rtc: config.clock.rtc } : {}),
  });
  const s = await clock.refresh();
  const name = 'clock';
  if (s.behindFloor) return fail(name, s.reason, 'set the time (timedatectl set-ntp true; check NTP reachability) or fit an RTC: decisions follow policy.clockUntrusted until then');
  if (s.mode === 'never') return warn(name, s.reason, 'decisions follow policy.clockUntrusted; set clock.trusted to "auto" once the gate has NTP or an RTC');
  if (s.mode === 'system') return warn(name, 'clock.trusted is "system": trusted without asking a time daemon', 'use clock.trusted "auto"');
  if (s.trusted) return ok(name, s.reason);
  if (s.sync.synchronised === null) return warn(name, `cannot judge here: ${s.sync.source}`, 'on the gate, enable systemd-timesyncd or chrony (or configure clock.rtc)');
  return fail(name, `${s.reason}: decisions follow policy.clockUntrusted`, 'check NTP reachability (timedatectl timesync-status) or fit an RTC (clock.rtc)');
}

// --- broker ------------------------------------------------------------------------------------------

async function brokerChecks(config: Config, env: DoctorEnv): Promise<CheckResult[]> {
  const m = config.mqtt;
  if (!m) return [ok('broker', 'no mqtt section: the gate works offline only')];
  let password: string | undefined;
  if (m.passwordFile) {
    try {
      password = readFileSync(m.passwordFile, 'utf8').split(/\r?\n/)[0];
    } catch (e) {
      return [fail('broker credentials', `cannot read ${m.passwordFile}: ${(e as NodeJS.ErrnoException).code}`, `write the password to ${m.passwordFile} (mode 0640, group passgate)`)];
    }
  }
  for (const f of [m.tls?.ca, m.tls?.cert, m.tls?.key]) {
    if (f && !existsSync(f)) return [fail('broker TLS', `${f} is missing`, f === m.tls?.cert ? 'passgate provision --cert FILE (the certificate the backend signed from the CSR)' : `put the file at ${f}`)];
  }
  const r = await env.probeBroker(m, password);
  const stageName = { tcp: 'broker reachable', tls: 'broker TLS', auth: 'broker credentials' }[r.stage];
  if (r.ok) return [ok('broker', `${m.url}: ${r.detail}`)];
  const fix = {
    tcp: 'check the network, the broker address and port, and any firewall',
    tls: 'check mqtt.tls.ca (the broker certificate must chain to it) and the clock; with mTLS, the client certificate (passgate provision --cert)',
    auth: 'check mqtt.username / passwordFile, or the client certificate the broker expects',
  }[r.stage];
  return [fail(stageName, `${m.url}: ${r.detail}`, fix)];
}

/** TCP, then TLS (for mqtts), then an MQTT CONNECT under a throw-away client id (the gate's own session is not disturbed). */
export const probeMqttBroker: BrokerProbe = async (m, password) => {
  const url = new URL(m.url);
  const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:';
  const port = Number(url.port || (url.protocol === 'mqtts:' ? 8883 : url.protocol === 'mqtt:' ? 1883 : secure ? 443 : 80));
  const host = url.hostname;
  const tcp = await new Promise<string | null>((resolve) => {
    const s = netConnect({ host, port, timeout: 4000 });
    s.once('connect', () => (s.destroy(), resolve(null)));
    s.once('timeout', () => (s.destroy(), resolve('timed out')));
    s.once('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
  });
  if (tcp) return { stage: 'tcp', ok: false, detail: `cannot reach ${host}:${port} (${tcp})` };
  const read = (f?: string) => (f ? readFileSync(f) : undefined);
  if (secure) {
    const tlsErr = await new Promise<string | null>((resolve) => {
      const s = tlsConnect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, ca: read(m.tls?.ca), cert: read(m.tls?.cert), key: read(m.tls?.key), timeout: 5000 });
      s.once('secureConnect', () => (s.destroy(), resolve(s.authorized ? null : String(s.authorizationError))));
      s.once('timeout', () => (s.destroy(), resolve('handshake timed out')));
      s.once('error', (e) => resolve(e.message));
    });
    if (tlsErr) return { stage: 'tls', ok: false, detail: tlsErr };
  }
  const { connectAsync } = await import('mqtt');
  try {
    const client = await connectAsync(m.url, {
      clientId: `passgate-doctor-${process.pid}`,
      username: m.username,
      password,
      ca: read(m.tls?.ca),
      cert: read(m.tls?.cert),
      key: read(m.tls?.key),
      connectTimeout: 5000,
      reconnectPeriod: 0,
      clean: true,
    });
    await client.endAsync();
    return { stage: 'auth', ok: true, detail: `reachable${secure ? ', TLS verified' : ''}, credentials accepted` };
  } catch (e) {
    return { stage: 'auth', ok: false, detail: `MQTT CONNECT refused: ${(e as Error).message}` };
  }
};

// --- devices and GPIO --------------------------------------------------------------------------------

function deviceChecks(config: Config, user: User | null, env: DoctorEnv): CheckResult[] {
  const out: CheckResult[] = [];
  const serial = (name: string, path: string) => {
    const p = join(env.root, path);
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      return fail(name, `${path} is missing`, `plug the device in; check its udev link (passgate provision writes /etc/udev/rules.d/99-passgate-devices.rules; udevadm trigger)`);
    }
    if (!user) return warn(name, `${path} present; ${noUser(env)}`, 'run doctor on the gate');
    if (!permits(st, user, 'rw')) return fail(name, `${path} present but ${user.name} cannot read and write it (owner ${st.uid}:${st.gid}, mode ${(st.mode & 0o777).toString(8)})`, `usermod -aG dialout ${user.name}, or fix the udev rule's GROUP/MODE`);
    return ok(name, `${path} present, accessible by ${user.name}`);
  };
  config.scanners.forEach((s, i) => {
    const name = `scanner${i}`;
    if (s.type === 'simulated') out.push(warn(name, 'simulated: no real scanner is read', 'configure the real scanner (passgate provision lists the devices found)'));
    else if (s.type === 'serial') out.push(serial(name, s.path));
    else {
      const found = usbDevices(env.root).find((d) => d.vendor === s.vendorId.replace(/^0x/i, '').toLowerCase() && d.product === s.productId.replace(/^0x/i, '').toLowerCase());
      out.push(found ? ok(name, `USB ${s.vendorId}:${s.productId} present (${found.name})`) : fail(name, `no USB device ${s.vendorId}:${s.productId}`, 'plug the scanner in (lsusb lists it); check vendorId/productId'));
    }
  });
  if (config.idReader?.type === 'serial') out.push(serial('id reader', config.idReader.path));
  else if (config.idReader) out.push(warn('id reader', 'simulated: no real reader is read', 'configure the real reader'));
  if (out.length === 0) out.push(warn('devices', 'no scanner and no ID reader configured', 'add scanners / idReader to the configuration (passgate provision)'));
  return out;
}

export interface UsbDevice {
  sysPath: string;
  vendor: string;
  product: string;
  name: string;
  serial?: string;
}

/** USB devices from `<root>/sys/bus/usb/devices/*` (idVendor, idProduct, product, serial). */
export function usbDevices(root: string): UsbDevice[] {
  const base = join(root, 'sys/bus/usb/devices');
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return [];
  }
  const read = (d: string, f: string) => {
    try {
      return readFileSync(join(base, d, f), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  return entries.flatMap((d) => {
    const vendor = read(d, 'idVendor');
    const product = read(d, 'idProduct');
    if (!vendor || !product) return [];
    const serial = read(d, 'serial');
    return [{ sysPath: d, vendor: vendor.toLowerCase(), product: product.toLowerCase(), name: [read(d, 'manufacturer'), read(d, 'product')].filter(Boolean).join(' ') || 'unnamed', ...(serial ? { serial } : {}) }];
  });
}

function gpioCheck(config: Config, user: User | null, env: DoctorEnv): CheckResult {
  const g = config.gpio;
  const name = 'gpio';
  if (g.simulated) return warn(name, 'gpio.simulated is true: no relay is switched', 'set gpio.simulated to false on a real gate');
  const root = join(env.root, 'sys/class/gpio');
  const sysfs = new SysfsGpio({ root, ...(g.chip?.label ? { chipLabel: g.chip.label } : {}), ...(g.chip?.base !== undefined ? { base: g.chip.base } : {}) });
  let chip;
  try {
    chip = sysfs.chip();
  } catch (e) {
    return fail(name, (e as Error).message.replace(/ \(BAD_CONFIG\)$/, ''), 'on a Pi: check the kernel exposes /sys/class/gpio; elsewhere set gpio.chip.label/base, or gpio.simulated for a test rig');
  }
  const lines = [g.relay.line, g.passage?.line, g.fireAlarm?.line, g.leds?.green?.line, g.leds?.red?.line, g.leds?.amber?.line, g.buzzer?.line].filter((l): l is number => l !== undefined);
  const outside = lines.filter((l) => l >= chip.ngpio);
  if (outside.length) return fail(name, `line(s) ${outside.join(', ')} beyond ${chip.label}'s ${chip.ngpio} lines`, 'check the gpio line numbers (BCM numbering)');
  if (user) {
    try {
      if (!permits(statSync(join(root, 'export')), user, 'w')) {
        return fail(name, `${user.name} cannot write ${root}/export`, `usermod -aG gpio ${user.name}; udev rule SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"`);
      }
    } catch {
      return fail(name, `no ${root}/export`, 'this kernel has no GPIO sysfs interface');
    }
  }
  return ok(name, `${chip.label} base ${chip.base}, lines ${lines.join(', ')} available${user ? '' : ' (access not judged: no service user)'}`);
}

// --- systemd -----------------------------------------------------------------------------------------

async function systemdCheck(env: DoctorEnv): Promise<CheckResult> {
  const name = 'systemd unit';
  const out = await env.run('systemctl', ['show', env.unit, '--property=LoadState,ActiveState,SubState,UnitFileState,NRestarts,Result']);
  if (out === null || !/ActiveState=/.test(out)) return warn(name, 'cannot judge here: systemctl is absent or systemd is not running', 'run doctor on the gate');
  const p = Object.fromEntries(out.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  if (p.LoadState === 'not-found') return fail(name, `${env.unit} is not installed`, 'sudo systemd/install.sh');
  const state = `${p.ActiveState}/${p.SubState}, ${p.UnitFileState ?? '?'}, ${p.NRestarts ?? 0} restart(s)`;
  if (p.ActiveState === 'failed') return fail(name, `${state}, result ${p.Result}`, `journalctl -u ${env.unit} -n 50; fix, then systemctl restart ${env.unit}`);
  if (p.ActiveState !== 'active') return warn(name, state, `systemctl enable --now ${env.unit} (selftest needs it stopped)`);
  if (p.UnitFileState !== 'enabled') return warn(name, state, `systemctl enable ${env.unit}: it will not start at boot`);
  if (Number(p.NRestarts ?? 0) > 0) return warn(name, state, `journalctl -u ${env.unit}: why did it restart?`);
  return ok(name, state);
}
