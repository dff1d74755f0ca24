/**
 * A fake filesystem root for `passgate provision --root-dir` (and `app/provision.ts`'s `root`): USB
 * devices in sysfs with their /dev/serial/by-id links, as udev lays them out on a gate.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A USB device in the fake sysfs with one tty or hidraw interface, and its /dev/serial/by-id link. */
export function fakeUsbDevice(root: string, port: string, vendor: string, product: string, node: string, name: string, serial?: string): void {
  const dev = join(root, 'sys/devices/platform/usb1', port);
  mkdirSync(join(dev, `${port}:1.0`), { recursive: true });
  writeFileSync(join(dev, 'idVendor'), `${vendor}\n`);
  writeFileSync(join(dev, 'idProduct'), `${product}\n`);
  writeFileSync(join(dev, 'product'), `${name}\n`);
  if (serial) writeFileSync(join(dev, 'serial'), `${serial}\n`);
  const cls = node.startsWith('hidraw') ? 'hidraw' : 'tty';
  mkdirSync(join(root, 'sys/class', cls, node), { recursive: true });
  symlinkSync(join(dev, `${port}:1.0`), join(root, 'sys/class', cls, node, 'device'));
  if (cls === 'tty') {
    mkdirSync(join(root, 'dev/serial/by-id'), { recursive: true });
    writeFileSync(join(root, 'dev', node), '');
    symlinkSync(`../../${node}`, join(root, 'dev/serial/by-id', `usb-${name.replace(/ /g, '_')}${serial ? `_${serial}` : ''}-if00`));
  }
}

/** The three devices the provision tests find: a serial scanner, a USB-serial ID reader, a HID scanner. */
export function fakeGateDevices(root: string): void {
  fakeUsbDevice(root, '1-1.2', '0c2e', '0b61', 'ttyACM0', 'Honeywell Scanner', 'SN123');
  fakeUsbDevice(root, '1-1.3', '1a86', '7523', 'ttyUSB0', 'USB Serial');
  fakeUsbDevice(root, '1-1.4', '05e0', '1200', 'hidraw0', 'Zebra HID');
}
