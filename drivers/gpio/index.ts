export { MemoryGpio, type GpioChip, type GpioLine, type InputLineOptions, type Level } from './line.js';
export { SysfsGpio, nodeSysfsIo, HEADER_CHIP_LABELS, type SysfsGpioOptions, type SysfsIo, type ChipInfo } from './sysfs.js';
export { Relay, deEnergisedPin, pinLevel, type RelayLevel, type RelayOptions, type RelayStats } from './relay.js';
export { DigitalInput, contactActiveLevel, openFireAlarmInput, openPassageSensor, type DigitalInputOptions, type ContactInputOptions, type Contact, type Pull } from './input.js';
export { Indicator, DEFAULT_PATTERNS, type Channel, type Pattern, type PatternName, type IndicatorChannelConfig, type IndicatorOptions } from './indicator.js';
export { RelayProbe, type RelayWrite } from './probe.js';
