/**
 * The gate's input and output drivers (the camera driver lives in drivers/camera and is exported
 * from there). See drivers/types.ts for the common driver shape.
 */
export * from './types.js';
export { TypedEmitter } from './common/emitter.js';
export { Backoff, type BackoffOptions } from '../base/backoff.js';
export { SILENT, type Logger } from '../base/log.js';
export { loadSystemSerialBinding, listSerialPorts } from './serial/binding.js';
export { VirtualSerialLink } from './serial/virtual-link.js';
export { SupervisedPort, type SupervisedPortOptions, type SupervisedPortCounters } from './serial/supervised-port.js';
export { streamEndpoint, type ByteEndpoint } from './serial/endpoint.js';
export * from './serial-scanner/index.js';
export * from './hid-scanner/index.js';
export * from './idcard/index.js';
export * from './gpio/index.js';
