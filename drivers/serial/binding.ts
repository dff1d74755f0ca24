/**
 * Serial bindings. Drivers take a `BindingInterface` by injection: the system one below on the Pi,
 * `MockBinding` (@serialport/binding-mock) in tests, `VirtualSerialLink` in the simulators.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BindingInterface, PortInfo } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from '../types.js';
import { errorText, SILENT } from '../../base/log.js';

export type { BindingInterface, PortInfo };

/**
 * The real binding: `@serialport/bindings-cpp` autodetect (what the `serialport` package wraps),
 * loaded on first use so that importing a driver never loads native code. Imported directly: the
 * `serialport` umbrella also loads its mock binding and every parser, ~2 MB of heap the gate never uses.
 *
 * On Linux its `list()` is replaced: bindings-cpp lists by spawning `udevadm` and, when the spawn
 * fails with EMFILE (the process out of descriptors), reads the child's missing stdout and leaves
 * the child's 'error' event without a listener — an uncaught `spawn udevadm EMFILE` that ended the
 * service during a serial reconnect. Here the ports are read from the device directory instead: no
 * process, and every failure is a rejected promise.
 */
export async function loadSystemSerialBinding(): Promise<BindingInterface> {
  const { autoDetect } = await import('@serialport/bindings-cpp');
  const system = autoDetect() as unknown as BindingInterface;
  if (process.platform !== 'linux') return system;
  return { open: (options) => system.open(options), list: () => listDevSerial() };
}

/** Serial device nodes by name, and the stable links udev makes for them. */
const TTY = /^tty(S|WCH|ACM|USB|AMA|MFD|O|XRUSB)\d+$|^rfcomm\d+$/;

/**
 * The serial ports of this machine from `/dev` (ttyACM…, ttyUSB…, ttyAMA…) and the stable links
 * in `/dev/serial/by-id` and `/dev/serial/by-path` (their `pnpId` is the by-id name). Spawns
 * nothing; a directory that cannot be read (absent, EMFILE) is skipped.
 */
export async function listDevSerial(dev = '/dev'): Promise<PortInfo[]> {
  const names = async (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);
  const port = (path: string, pnpId?: string): PortInfo => ({ path, manufacturer: undefined, serialNumber: undefined, pnpId, locationId: undefined, vendorId: undefined, productId: undefined });
  const nodes = (await names(dev)).filter((n) => TTY.test(n)).map((n) => port(join(dev, n)));
  const byId = (await names(join(dev, 'serial', 'by-id'))).map((n) => port(join(dev, 'serial', 'by-id', n), n));
  const byPath = (await names(join(dev, 'serial', 'by-path'))).map((n) => port(join(dev, 'serial', 'by-path', n)));
  return [...byId, ...byPath, ...nodes];
}

/**
 * `binding.list()` that never rejects (nor throws: a binding may throw synchronously): an unhandled
 * rejection would end the process on Node 20. Returns [] and logs instead.
 */
export async function listSerialPorts(binding: BindingInterface, logger: Logger = SILENT): Promise<PortInfo[]> {
  try {
    return await binding.list();
  } catch (err) {
    logger.debug({ err: errorText(err) }, 'serial port list failed');
    return [];
  }
}
