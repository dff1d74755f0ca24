/** The one "wait until" helper of the test suite (shared with the benchmarks: scripts/lib/wait.ts). */
export { waitFor, type WaitOptions } from '../../scripts/lib/wait.js';
