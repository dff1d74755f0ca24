export { KeyboardDecoder, encodeKeyboardReports, resolveLayout, type KeyboardDecoderOptions } from './keyboard.js';
export { HidPosDecoder, encodeHidPosReports, HIDPOS_DATA_BYTES, type HidPosDecoderOptions } from './hidpos.js';
export { US, DE, FR, LAYOUTS, USAGE, composeDead, type KeyboardLayout, type KeyEntry, type KeyOutput } from './layouts.js';
export { NodeHidTransport, FakeHidTransport, FakeHidDevice, type HidDevice, type HidTransport, type NodeHidTransportOptions } from './transport.js';
export { HidScanner, type HidScannerOptions, type HidScannerCounters } from './scanner.js';
export { SimulatedHidScanner, type SimulatedHidScannerOptions } from './simulated.js';
