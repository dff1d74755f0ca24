/**
 * The one range check for numeric options: it names the option and its range in the error
 * (zwave-js style: "maxPulseMs must be between 10 and 10000, got 5"), as BAD_CONFIG.
 */
import { PassgateError } from './errors.js';

export function checkRange(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new PassgateError('BAD_CONFIG', `${name} must be between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  checkRange(name, value, min, max);
  if (!Number.isInteger(value)) throw new PassgateError('BAD_CONFIG', `${name} must be an integer between ${min} and ${max}, got ${value}`);
  return value;
}

/** An optional option: undefined passes (the caller has a default). */
export function checkOptionalRange(name: string, value: number | undefined, min: number, max: number): number | undefined {
  return value === undefined ? undefined : checkRange(name, value, min, max);
}
