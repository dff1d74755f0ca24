/** `npm run fuzz` is the property tests at a million runs; here it runs briefly to prove it works. */
import { it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

it('runs every decoder and parser property and reports each', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['dist/scripts/fuzz.js'], { env: { ...process.env, FUZZ_RUNS: '200' } });
  for (const stage of ['HP1/HC1 decoder', 'envelope parser', 'list payload parser']) expect(stdout).toMatch(new RegExp(`${stage}: 200 inputs, no failure`));
});
