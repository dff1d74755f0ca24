/**
 * Serial bindings. Drivers take a `BindingInterface` by injection: the system one below on the Pi,
 * `MockBinding` (@serialport/binding-mock) in tests, `VirtualSerialLink` in the simulators.
 */
import type { BindingInterface, PortInfo } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from '../types.js';
import { errorText, SILENT } from '../../base/log.js';

export type { BindingInterface, PortInfo };

/**
 * The real binding: `@serialport/bindings-cpp` autodetect, via the `serialport` package, loaded on
 * first use so that importing a driver never loads native code.
 */
export async function loadSystemSerialBinding(): Promise<BindingInterface> {
  const { SerialPort } = await import('serialport');
  return SerialPort.binding as unknown as BindingInterface;
}

/**
 * `binding.list()` that never rejects: on a system without udev, bindings-cpp's list spawns
 * `udevadm` and rejects with `spawn udevadm ENOENT` (platform.md §1.3); an unhandled rejection would
 * end the process on Node 20. Returns [] and logs instead.
 */
export async function listSerialPorts(binding: BindingInterface, logger: Logger = SILENT): Promise<PortInfo[]> {
  try {
    return await binding.list();
  } catch (err) {
    logger.debug({ err: errorText(err) }, 'serial port list failed');
    return [];
  }
}
