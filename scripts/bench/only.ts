/**
 * Runs one benchmark section alone, in this fresh process, and prints its figures as JSON:
 * `npm run build && node --expose-gc dist/scripts/bench/only.js max-latency`.
 * `uplink` (event commit → broker PUBLISH) starts its own mosquitto.
 */
import { benchKidFlood, benchMaxLatency } from './core.js';
import { benchUplink } from './uplink.js';
import { startMosquitto } from '../backend/mosquitto.js';
import { benchConsole } from './console.js';

const sections: Record<string, () => Promise<unknown>> = {
  'max-latency': () => benchMaxLatency({ decisions: Number(process.env.BENCH_DECISIONS ?? 10_000), turns: process.env.BENCH_TURNS === '1' }),
  'kid-flood': async () => benchKidFlood(Number(process.env.BENCH_COPIES ?? 9_997)),
  uplink: async () => {
    const broker = await startMosquitto();
    try {
      return await benchUplink(broker.url);
    } finally {
      await broker.dispose();
    }
  },
  console: () => benchConsole(),
};

const name = process.argv[2] ?? '';
const run = sections[name];
if (!run) {
  console.error(`usage: only.js ${Object.keys(sections).join(' | ')}`);
  process.exit(2);
}
run().then(
  (r) => console.log(JSON.stringify(r, null, 2)),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
