export { LineFramer, frameLine, type FramedLine, type LineFramerOptions } from './framer.js';
export { SerialScanner, type SerialScannerOptions, type SerialScannerCounters } from './scanner.js';
export { SimulatedScanner, type SimulatedScannerOptions } from './simulated.js';
