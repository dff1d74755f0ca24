/**
 * `passgate provision`: turns a bare Pi into a gate, and is safe to run again.
 *
 *   1. site and gate ids, pinned root(s) → the data directory (created, owned by the service user)
 *   2. the device key pair (P-256, mode 0600) and a CSR for the broker's mTLS (`--csr-out`); later the
 *      signed certificate (`--cert`), checked against the key before it is installed
 *   3. the serial and HID devices found (by-id path, USB vendor/product); the technician says which is
 *      the code scanner and which the ID reader → udev rules giving them stable names
 *   4. the configuration file; it and the device choices are checked before anything is written;
 *      then the next steps
 *
 * Idempotent: what is already there and the same is left alone; an existing gate identity or key is
 * never replaced without `force`. With `dryRun` nothing is written. Every path goes through `root`
 * (tests fake /dev, /sys and /etc).
 *
 * The CSR comes from `openssl req` on the generated key: openssl is on every Raspberry Pi OS image
 * (ca-certificates depends on it), and it saves a PKCS#10 builder dependency for one call per gate.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../device/config.js';
import { DB_FILE, GateStore, type Identity } from '../device/store/store.js';
import { rootKey } from '../device/core/trust.js';
import { b64uDecode } from '../device/core/b64u.js';
import { checkGateId, checkSiteId } from '../sync/topics.js';
import { lookupUser } from './doctor.js';

const run = promisify(execFile);

export interface ProvisionOptions {
  site: string;
  gate: string;
  roots: string[];
  configFile: string;
  dataDir: string;
  brokerUrl?: string;
  username?: string;
  password?: string;
  ca?: string;
  /** Chosen devices: a /dev path (by-id), `simulated`, or `none`. */
  scanner?: string;
  idReader?: string;
  relayLine: number;
  relayActiveLow: boolean;
  simulatedGpio: boolean;
  csrOut?: string;
  cert?: string;
  force: boolean;
  dryRun: boolean;
  /** Filesystem root for /dev, /sys, /etc (a test rig); `/` on a gate. */
  root: string;
  serviceUser: string;
}

export interface FoundDevice {
  kind: 'serial' | 'hid';
  /** The stable path: /dev/serial/by-id/… for serial, /dev/hidrawN for HID. */
  path: string;
  node: string;
  vendor?: string;
  product?: string;
  serial?: string;
  name?: string;
}

/** Serial devices under /dev/serial/by-id and hidraw devices, with their USB ids from sysfs. */
export function discoverDevices(root: string): FoundDevice[] {
  const out: FoundDevice[] = [];
  const byId = join(root, 'dev/serial/by-id');
  for (const link of safeReaddir(byId).sort()) {
    let node: string;
    try {
      node = basename(resolve(byId, readlinkSync(join(byId, link))));
    } catch {
      continue;
    }
    out.push({ kind: 'serial', path: `/dev/serial/by-id/${link}`, node, ...usbOf(root, join('sys/class/tty', node, 'device')) });
  }
  for (const node of safeReaddir(join(root, 'sys/class/hidraw')).sort()) {
    out.push({ kind: 'hid', path: `/dev/${node}`, node, ...usbOf(root, join('sys/class/hidraw', node, 'device')) });
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Walks up from a class device to the USB device that has idVendor/idProduct. */
function usbOf(root: string, rel: string): Pick<FoundDevice, 'vendor' | 'product' | 'serial' | 'name'> {
  let dir: string;
  try {
    dir = realpathSync(join(root, rel));
  } catch {
    return {};
  }
  const stop = resolve(root);
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  while (dir.startsWith(stop) && dir !== stop) {
    const vendor = read('idVendor');
    if (vendor) {
      const serial = read('serial');
      const name = [read('manufacturer'), read('product')].filter(Boolean).join(' ');
      return { vendor, product: read('idProduct'), ...(serial ? { serial } : {}), ...(name ? { name } : {}) };
    }
    dir = dirname(dir);
  }
  return {};
}

export function describeDevice(d: FoundDevice): string {
  return `${d.path} (${d.node}${d.vendor ? `, USB ${d.vendor}:${d.product}` : ''}${d.name ? `, ${d.name}` : ''}${d.serial ? `, serial ${d.serial}` : ''})`;
}

export type DeviceRole = 'qrscanner' | 'idreader';

/**
 * The device a choice names (a path from `found` or its kernel name), or undefined for `none` and
 * `simulated`. Refused: a device not found, the one `other` role has, a HID device as the ID-card
 * reader (GA/T 467 readers speak serial; the configuration has no HID reader).
 */
export function pickDevice(role: DeviceRole, choice: string, found: FoundDevice[], other?: FoundDevice): FoundDevice | undefined {
  if (choice === 'none' || choice === 'simulated') return undefined;
  const d = found.find((f) => f.path === choice || f.node === choice || `/dev/${f.node}` === choice);
  if (!d) throw new ProvisionError('BAD_CONFIG', `${choice} is not among the devices found (${found.map((f) => f.path).join(', ') || 'none'})`);
  if (d === other) throw new ProvisionError('BAD_CONFIG', `${d.path} is the ${role === 'idreader' ? 'code scanner' : 'ID-card reader'} already`);
  if (role === 'idreader' && d.kind === 'hid') throw new ProvisionError('BAD_CONFIG', `${d.path} is a HID device: the ID-card reader is a serial device (GA/T 467)`);
  return d;
}

/** Throws (BAD_CONFIG, saying why) unless `r` is a federation root public key, base64url SPKI. */
export function checkRootKey(r: string): void {
  try {
    const der = b64uDecode(r);
    if (!der || der.length === 0) throw new Error();
    rootKey(der);
  } catch {
    throw new ProvisionError('BAD_CONFIG', `${JSON.stringify(r.length > 16 ? `${r.slice(0, 16)}…` : r)} is not a federation root public key (the base64url SPKI \`passgate-issuer root\` prints)`);
  }
}

/** Throws a ConfigError naming the rule unless the configuration would take `url` as its broker. */
export function checkBrokerUrl(url: string): void {
  parseConfig({ dataDir: '/var/lib/passgate', gpio: { relay: { line: 17, activeLow: true } }, mqtt: { url } });
}

/** udev rules giving the chosen devices stable names (/dev/qrscanner, /dev/idreader) the service user can open. */
export function udevRules(chosen: { role: DeviceRole; device: FoundDevice }[]): string {
  const lines = ['# Written by passgate provision: stable names for the gate\'s scanner and ID reader.', ''];
  for (const { role, device } of chosen) {
    const subsystem = device.kind === 'serial' ? 'SUBSYSTEM=="tty"' : 'SUBSYSTEM=="hidraw"';
    const match = device.vendor
      ? [`ATTRS{idVendor}=="${device.vendor}"`, `ATTRS{idProduct}=="${device.product}"`, ...(device.serial ? [`ATTRS{serial}=="${device.serial}"`] : [])]
      : [`KERNEL=="${device.node}"`];
    lines.push(`# ${role}: ${describeDevice(device)}${device.vendor && !device.serial ? ' — no USB serial number: two identical adapters would collide; match KERNELS=="<usb port>" instead' : ''}`);
    lines.push(`${[subsystem, ...match].join(', ')}, SYMLINK+="${role}", GROUP="${device.kind === 'serial' ? 'dialout' : 'plugdev'}", MODE="0660"`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Step {
  what: string;
  outcome: 'created' | 'unchanged' | 'replaced' | 'written' | 'would create' | 'would write' | 'skipped';
}

export interface ProvisionResult {
  steps: Step[];
  next: string[];
}

export class ProvisionError extends Error {
  constructor(
    readonly code: 'EXISTS' | 'BAD_CONFIG' | 'BAD_CERT',
    message: string,
  ) {
    super(message);
  }
}

/** The gate identity a data directory (under `root`) already holds, read without writing; null when none. */
export function existingGate(dataDir: string, root = '/'): Identity | null {
  const dir = join(root, dataDir);
  if (!existsSync(join(dir, DB_FILE))) return null;
  const store = GateStore.openReadOnly(dir);
  try {
    return store.identity();
  } finally {
    store.close();
  }
}

/** Why `dataDir`, holding gate `id`, is not provisioned again as `site`/`gate` without --force. */
function anotherGate(dataDir: string, id: Identity, site: string, gate: string): ProvisionError {
  const sameName = id.site === site && id.gate === gate;
  return new ProvisionError('EXISTS', `${dataDir} already holds gate ${id.site}/${id.gate}${sameName ? ' with other roots' : ''}: refusing to replace a gate identity without --force`);
}

/** Refuses, before anything else, a data directory that holds another gate (unless `force`). */
export function checkNotAnotherGate(dataDir: string, site: string, gate: string, o: { root?: string; force?: boolean } = {}): void {
  const id = o.force ? null : existingGate(dataDir, o.root);
  if (id && (id.site !== site || id.gate !== gate)) throw anotherGate(dataDir, id, site, gate);
}

export async function provision(o: ProvisionOptions): Promise<ProvisionResult> {
  checkSiteId(o.site);
  checkGateId(o.gate);
  if (o.roots.length < 1 || o.roots.length > 2) throw new ProvisionError('BAD_CONFIG', 'one or two --root keys (current and next)');
  for (const r of o.roots) {
    try {
      checkRootKey(r);
    } catch (e) {
      throw new ProvisionError('BAD_CONFIG', `--root ${(e as Error).message}`);
    }
  }
  const at = (p: string) => join(o.root, p);
  const etc = dirname(at(o.configFile));
  const keyFile = join(etc, 'gate.key');
  const certFile = join(etc, 'gate.crt');
  // The devices and the configuration are checked before anything is written.
  const found = discoverDevices(o.root);
  const scannerDev = o.scanner ? pickDevice('qrscanner', o.scanner, found) : undefined;
  const readerDev = o.idReader ? pickDevice('idreader', o.idReader, found, scannerDev) : undefined;
  const chosen = [
    ...(scannerDev ? [{ role: 'qrscanner' as const, device: scannerDev }] : []),
    ...(readerDev ? [{ role: 'idreader' as const, device: readerDev }] : []),
  ];
  const config: Record<string, unknown> = {
    dataDir: o.dataDir,
    clock: { trusted: 'auto' },
    scanners:
      o.scanner === 'simulated'
        ? [{ type: 'simulated' }]
        : scannerDev
          ? [scannerDev.kind === 'serial' ? { type: 'serial', path: '/dev/qrscanner' } : { type: 'hid', vendorId: scannerDev.vendor, productId: scannerDev.product }]
          : [],
    ...(o.idReader === 'simulated' ? { idReader: { type: 'simulated' } } : readerDev ? { idReader: { type: 'serial', path: '/dev/idreader' } } : {}),
    gpio: { ...(o.simulatedGpio ? { simulated: true } : {}), relay: { line: o.relayLine, activeLow: o.relayActiveLow } },
    ...(o.brokerUrl
      ? {
          mqtt: {
            url: o.brokerUrl,
            ...(o.username ? { username: o.username } : {}),
            ...(o.password !== undefined ? { passwordFile: join(dirname(o.configFile), 'mqtt-password') } : {}),
            ...(o.ca || existsSync(certFile) || o.cert
              ? { tls: { ...(o.ca ? { ca: o.ca } : {}), ...(existsSync(certFile) || o.cert ? { cert: join(dirname(o.configFile), 'gate.crt'), key: join(dirname(o.configFile), 'gate.key') } : {}) } }
              : {}),
          },
        }
      : {}),
  };
  parseConfig(config); // throws ConfigError naming every fault

  const steps: Step[] = [];
  const user = lookupUser(o.root, o.serviceUser);
  const own = (p: string) => {
    if (user && !o.dryRun) chownSync(p, user.uid, user.gid);
  };
  const will = (what: string, write: () => void, outcome: Step['outcome'] = 'written') => {
    if (o.dryRun) steps.push({ what, outcome: outcome === 'created' ? 'would create' : 'would write' });
    else {
      write();
      steps.push({ what, outcome });
    }
  };

  // 1. identity
  const dataDir = at(o.dataDir);
  const dbFile = join(dataDir, DB_FILE);
  if (existsSync(dbFile)) {
    const id = existingGate(o.dataDir, o.root);
    const same = id && id.site === o.site && id.gate === o.gate && JSON.stringify(id.roots) === JSON.stringify(o.roots);
    if (same) steps.push({ what: `gate ${o.site}/${o.gate} in ${o.dataDir}`, outcome: 'unchanged' });
    else if (id && !o.force) {
      throw anotherGate(o.dataDir, id, o.site, o.gate);
    } else {
      will(`gate ${o.site}/${o.gate} in ${o.dataDir} (the old store kept as ${DB_FILE}.replaced-*)`, () => {
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) if (existsSync(join(dataDir, f))) renameSync(join(dataDir, f), join(dataDir, `${f}.replaced-${stamp}`));
        initialise(dataDir, o);
      }, 'replaced');
    }
  } else {
    will(`gate ${o.site}/${o.gate} in ${o.dataDir}`, () => initialise(dataDir, o), 'created');
  }
  if (!o.dryRun) {
    own(dataDir);
    for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) if (existsSync(join(dataDir, f))) own(join(dataDir, f));
  }

  // 2. device key, CSR, certificate
  if (existsSync(keyFile) && !o.force) steps.push({ what: `device key ${keyFile}`, outcome: 'unchanged' });
  else {
    const replacing = existsSync(keyFile);
    will(`device key ${keyFile} (ECDSA P-256)`, () => {
      mkdirSync(etc, { recursive: true });
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      own(keyFile);
    }, replacing ? 'replaced' : 'created');
  }
  if (o.csrOut) {
    const subject = `/CN=${o.site}.${o.gate}/OU=${o.site}/O=passgate`;
    if (o.dryRun) steps.push({ what: `CSR ${o.csrOut} for ${subject}`, outcome: 'would write' });
    else {
      await run('openssl', ['req', '-new', '-key', keyFile, '-subj', subject, '-out', o.csrOut]);
      steps.push({ what: `CSR ${o.csrOut} for ${subject} (send it to the backend to sign)`, outcome: 'written' });
    }
  }
  if (o.cert) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(readFileSync(o.cert));
    } catch (e) {
      throw new ProvisionError('BAD_CERT', `${o.cert} is not a PEM certificate (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    if (existsSync(keyFile) && !cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) {
      throw new ProvisionError('BAD_CERT', `${o.cert} was not issued for this gate's key ${keyFile} (its public key differs): was it signed from this gate's CSR?`);
    }
    if (existsSync(certFile) && readFileSync(certFile).equals(readFileSync(o.cert))) steps.push({ what: `certificate ${certFile}`, outcome: 'unchanged' });
    else will(`certificate ${certFile} (${cert.subject.replace(/\n/g, ', ')}; valid to ${cert.validTo})`, () => {
      copyFileSync(o.cert!, certFile);
      own(certFile);
    }, existsSync(certFile) ? 'replaced' : 'created');
  }

  // 3. udev rules for the devices chosen
  const rulesFile = at('etc/udev/rules.d/99-passgate-devices.rules');
  if (chosen.length) {
    const rules = udevRules(chosen);
    if (existsSync(rulesFile) && readFileSync(rulesFile, 'utf8') === rules) steps.push({ what: `udev rules ${rulesFile}`, outcome: 'unchanged' });
    else will(`udev rules ${rulesFile} (${chosen.map((c) => `/dev/${c.role}`).join(', ')})`, () => {
      mkdirSync(dirname(rulesFile), { recursive: true });
      writeFileSync(rulesFile, rules);
    });
  }

  // 4. the broker password and the configuration
  if (o.password !== undefined) {
    const pw = join(etc, 'mqtt-password');
    if (existsSync(pw) && readFileSync(pw, 'utf8') === `${o.password}\n`) steps.push({ what: `broker password ${pw}`, outcome: 'unchanged' });
    else will(`broker password ${pw} (mode 0640)`, () => {
      mkdirSync(etc, { recursive: true });
      writeFileSync(pw, `${o.password}\n`, { mode: 0o640 });
      if (user && !o.dryRun) chownSync(pw, 0, user.gid);
    });
  }
  const text = `${JSON.stringify(config, null, 2)}\n`;
  const cfg = at(o.configFile);
  if (existsSync(cfg) && readFileSync(cfg, 'utf8') === text) steps.push({ what: `configuration ${cfg}`, outcome: 'unchanged' });
  else will(`configuration ${cfg}${existsSync(cfg) ? ' (the previous one kept as .bak)' : ''}`, () => {
    mkdirSync(dirname(cfg), { recursive: true });
    if (existsSync(cfg)) copyFileSync(cfg, `${cfg}.bak`);
    writeFileSync(cfg, text);
  }, existsSync(cfg) ? 'replaced' : 'created');

  const next = [
    ...(chosen.length ? ['udevadm control --reload && udevadm trigger   # the /dev/qrscanner and /dev/idreader links'] : []),
    ...(o.csrOut ? [`send ${o.csrOut} to the backend; install what it signs: passgate provision … --cert gate.crt`] : []),
    `passgate doctor --config ${o.configFile}   # every check should say OK`,
    `passgate selftest --config ${o.configFile}   # relay click, LEDs, one scan, one card (service stopped)`,
    'systemctl enable --now passgate',
  ];
  return { steps, next };
}

function initialise(dataDir: string, o: ProvisionOptions): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  const store = GateStore.open(dataDir);
  try {
    store.initialise({ site: o.site, gate: o.gate, roots: o.roots });
  } finally {
    store.close();
  }
}

/** The public key of a PEM private key, for tests and the CSR check. */
export function publicKeyOf(keyPem: string): string {
  return createPublicKey(keyPem).export({ format: 'pem', type: 'spki' }).toString();
}
