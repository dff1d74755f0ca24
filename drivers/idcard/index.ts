export * from './frame.js';
export { parseReadData, parseTextBlock, encodeTextBlock, TEXT_LAYOUT, TEXT_BYTES, CARD_TYPE_MARK_OFFSET, type CardText, type CardFields } from './text.js';
export { IdCardReader, type IdCardReaderOptions, type IdCardReaderCounters } from './reader.js';
export { FakeSamReader, type FakeSamReaderOptions, type FakeSamFaults, type FakeSamEvents } from './fake-reader.js';
export { SimulatedIdCardReader, type SimulatedIdCardReaderOptions } from './simulated.js';
