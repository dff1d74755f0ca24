/**
 * passgate provision on a fake root (/dev/serial/by-id, sysfs, /etc): identity, key, CSR (openssl),
 * certificate, devices and udev rules, a validated configuration; run twice it changes nothing; an
 * existing identity or key is replaced only with --force; --dry-run writes nothing.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverDevices, provision, type ProvisionOptions } from '../../app/provision.js';
import { loadConfig } from '../../device/config.js';
import { GateStore } from '../../device/store/store.js';
import { sharedFederation } from '../helpers/gate.js';
import { fakeGateDevices } from '../helpers/devices.js';

let root: string;
let opts: ProvisionOptions;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'passgate-prov-'));
  fakeGateDevices(root);
  opts = {
    site: 'metro-2',
    gate: 'north-07',
    roots: [sharedFederation().rootSpki()],
    configFile: '/etc/passgate/config.json',
    dataDir: '/var/lib/passgate',
    brokerUrl: 'mqtts://broker.example:8883',
    username: 'north-07',
    password: 's3cret',
    scanner: '/dev/serial/by-id/usb-Honeywell_Scanner_SN123-if00',
    idReader: '/dev/serial/by-id/usb-USB_Serial-if00',
    relayLine: 17,
    relayActiveLow: true,
    simulatedGpio: false,
    force: false,
    dryRun: false,
    root,
    serviceUser: 'passgate',
  };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('passgate provision', () => {
  it('lists serial and HID devices with their USB ids', () => {
    expect(discoverDevices(root)).toEqual([
      { kind: 'serial', path: '/dev/serial/by-id/usb-Honeywell_Scanner_SN123-if00', node: 'ttyACM0', vendor: '0c2e', product: '0b61', serial: 'SN123', name: 'Honeywell Scanner' },
      { kind: 'serial', path: '/dev/serial/by-id/usb-USB_Serial-if00', node: 'ttyUSB0', vendor: '1a86', product: '7523', name: 'USB Serial' },
      { kind: 'hid', path: '/dev/hidraw0', node: 'hidraw0', vendor: '05e0', product: '1200', name: 'Zebra HID' },
    ]);
  });

  it('provisions identity, key, udev rules and a valid configuration; a second run changes nothing', async () => {
    const first = await provision(opts);
    expect(first.steps.map((s) => s.outcome)).not.toContain('unchanged');
    const store = GateStore.open(join(root, 'var/lib/passgate'));
    expect(store.identity()).toMatchObject({ site: 'metro-2', gate: 'north-07' });
    store.close();
    const rules = readFileSync(join(root, 'etc/udev/rules.d/99-passgate-devices.rules'), 'utf8');
    expect(rules).toContain('SUBSYSTEM=="tty", ATTRS{idVendor}=="0c2e", ATTRS{idProduct}=="0b61", ATTRS{serial}=="SN123", SYMLINK+="qrscanner", GROUP="dialout", MODE="0660"');
    expect(rules).toContain('ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", SYMLINK+="idreader"');
    const config = loadConfig(join(root, 'etc/passgate/config.json'));
    expect(config.scanners).toEqual([{ type: 'serial', path: '/dev/qrscanner', baud: 115200, aimQrOnly: false }]);
    expect(config.idReader).toMatchObject({ type: 'serial', path: '/dev/idreader' });
    expect(config.mqtt).toMatchObject({ url: 'mqtts://broker.example:8883', username: 'north-07', passwordFile: '/etc/passgate/mqtt-password' });
    expect(readFileSync(join(root, 'etc/passgate/mqtt-password'), 'utf8')).toBe('s3cret\n');
    expect(readFileSync(join(root, 'etc/passgate/gate.key'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
    expect(first.next.join('\n')).toMatch(/passgate doctor/);

    const key = readFileSync(join(root, 'etc/passgate/gate.key'), 'utf8');
    const second = await provision(opts);
    expect(second.steps.every((s) => s.outcome === 'unchanged'), JSON.stringify(second.steps)).toBe(true);
    expect(readFileSync(join(root, 'etc/passgate/gate.key'), 'utf8')).toBe(key);
  });

  it('never replaces an existing gate identity or key without --force', async () => {
    await provision(opts);
    const key = readFileSync(join(root, 'etc/passgate/gate.key'), 'utf8');
    await expect(provision({ ...opts, gate: 'south-01' })).rejects.toThrow(/already holds gate metro-2\/north-07.*--force/);
    const replaced = await provision({ ...opts, gate: 'south-01', force: true });
    expect(replaced.steps.filter((s) => s.outcome === 'replaced').length).toBeGreaterThanOrEqual(2);
    expect(readFileSync(join(root, 'etc/passgate/gate.key'), 'utf8')).not.toBe(key);
    expect(readdirSync(join(root, 'var/lib/passgate')).some((f) => f.startsWith('passgate.db.replaced-'))).toBe(true);
  });

  it('refuses a device not found, one device for both roles, and a HID device as the ID-card reader; nothing written', async () => {
    await expect(provision({ ...opts, scanner: '/dev/ttyACM9' })).rejects.toThrow(/\/dev\/ttyACM9 is not among the devices found/);
    await expect(provision({ ...opts, idReader: opts.scanner })).rejects.toThrow(/usb-Honeywell_Scanner_SN123-if00 is the code scanner already/);
    await expect(provision({ ...opts, idReader: 'hidraw0' })).rejects.toThrow(/\/dev\/hidraw0 is a HID device: the ID-card reader is a serial device/);
    expect(existsSync(join(root, 'var'))).toBe(false);
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });

  it('--dry-run writes nothing', async () => {
    const r = await provision({ ...opts, dryRun: true });
    expect(r.steps.every((s) => s.outcome.startsWith('would'))).toBe(true);
    expect(existsSync(join(root, 'var'))).toBe(false);
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });

  it('validates the configuration before writing anything', async () => {
    await expect(provision({ ...opts, brokerUrl: 'http://not-mqtt' })).rejects.toThrow(/mqtt\/url/);
    expect(existsSync(join(root, 'var'))).toBe(false);
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });

  it.skipIf(!hasOpenssl)('writes a CSR for the device key, then installs only a certificate issued for that key', async () => {
    const csr = join(root, 'gate.csr');
    await provision({ ...opts, csrOut: csr });
    const text = execFileSync('openssl', ['req', '-in', csr, '-noout', '-subject', '-verify'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(text).toMatch(/CN\s*=\s*metro-2\.north-07/);
    // the backend signs it (here: a throw-away CA)
    const ca = join(root, 'ca');
    mkdirSync(ca);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(ca, 'ca.key'), '-out', join(ca, 'ca.crt'), '-subj', '/CN=test CA', '-days', '2'], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', join(ca, 'ca.crt'), '-CAkey', join(ca, 'ca.key'), '-CAcreateserial', '-out', join(ca, 'gate.crt'), '-days', '2'], { stdio: 'ignore' });
    await expect(provision({ ...opts, cert: join(ca, 'ca.crt') })).rejects.toThrow(/not issued for this gate's key/);
    const r = await provision({ ...opts, cert: join(ca, 'gate.crt') });
    expect(r.steps.find((s) => s.what.includes('gate.crt'))!.outcome).toBe('created');
    expect(loadConfig(join(root, 'etc/passgate/config.json')).mqtt!.tls).toEqual({ cert: '/etc/passgate/gate.crt', key: '/etc/passgate/gate.key' });
  });
});
