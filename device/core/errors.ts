/**
 * Moved to the ground floor: base/errors.ts (one error class, codes in ranges per area). This
 * re-export stays for now so that code written against the old path still compiles; new code
 * imports base/errors.ts.
 */
export * from '../../base/errors.js';
