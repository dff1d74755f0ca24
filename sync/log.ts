/**
 * The sync layer logs through the one Logger (base/log.ts; subsystems under the key `mod`, e.g.
 * `sync:outbox`). This re-export stays for now so that code written against the old path still
 * compiles; new code imports base/log.ts.
 */
export { SILENT, RateLimitedLog, moduleLogger as childLogger, type Logger } from '../base/log.js';
