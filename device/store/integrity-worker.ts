/** Runs the list tables' integrity check in a worker thread (it can take seconds at 10M entries). */
import { parentPort, workerData } from 'node:worker_threads';
import { checkStoreIntegrity } from './integrity.js';

parentPort?.postMessage(checkStoreIntegrity((workerData as { dataDir: string }).dataDir, { scope: 'list-tables' }));
