/** A real mosquitto for the sync tests: the implementation lives in scripts/ so the benchmarks can use it too. */
export { startMosquitto, mosquittoConfig, freePort, type Mosquitto, type MosquittoOptions } from '../../scripts/backend/mosquitto.js';
