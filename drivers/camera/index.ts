/** Camera input: QR decoding of images and frames, frame sources, and the `CameraScanner` driver. */
export { decodeQrImage, inlineDetector, toGrey, greyToRgba, MAX_INPUT_PIXELS } from './decode.js';
export type { DecodeOptions, GreyImage, QrDetector } from './decode.js';
export { WorkerQrDetector } from './qr-worker.js';
export { MjpegSplitter } from './mjpeg.js';
export type { MjpegCounters, MjpegSplitterOptions } from './mjpeg.js';
export { CommandMjpegSource, ImageFileSource } from './source.js';
export type { CommandMjpegSourceOptions, FrameSource } from './source.js';
export { SimulatedFrameSource, syntheticFrame } from './simulated.js';
export type { SyntheticFrameOptions } from './simulated.js';
export { CameraScanner, RepeatFilter } from './scanner.js';
export type { CameraScannerCounters, CameraScannerOptions } from './scanner.js';
