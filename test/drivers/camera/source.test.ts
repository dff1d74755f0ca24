import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { CommandMjpegSource, ImageFileSource } from '../../../drivers/camera/source.js';

const dir = mkdtempSync(join(tmpdir(), 'passgate-camera-'));

async function jpeg(shade: number): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 24, channels: 3, background: { r: shade, g: shade, b: shade } } }).jpeg().toBuffer();
}

/** A stand-in capture command: writes the frames (with garbage, in odd chunks), then exits or idles. */
const CHILD = `
const fs = require('node:fs');
const [file, mode] = process.argv.slice(1);
const data = fs.readFileSync(file);
let i = 0;
const sizes = [5, 1, 700, 33];
(function next(k) {
  if (i >= data.length) { if (mode === 'exit') process.exit(3); setInterval(() => {}, 1000); return; }
  const n = sizes[k % sizes.length];
  process.stdout.write(data.subarray(i, i + n));
  i += n;
  setImmediate(next, k + 1);
})(0);
`;

function streamFile(name: string, frames: Buffer[]): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(frames.flatMap((f) => [Buffer.from('garbage\n'), f])));
  return path;
}

describe('CommandMjpegSource', () => {
  it('splits the command stdout into frames and restarts the command, with backoff, when it exits', async () => {
    const frames = [await jpeg(20), await jpeg(200)];
    const source = new CommandMjpegSource({
      command: process.execPath,
      args: ['-e', CHILD, streamFile('two.mjpeg', frames), 'exit'],
      queue: 4,
      backoff: { initialMs: 20, maxMs: 50, jitter: 0 },
    });
    const got: Buffer[] = [];
    let lastExit: unknown = null;
    for await (const f of source.frames()) {
      got.push(f);
      if (got.length === 5) lastExit = source.health().lastExit;
      if (got.length === 6) break;
    }
    expect(got).toEqual([...frames, ...frames, ...frames]);
    expect(lastExit).toBe('exit code 3');
    const h = source.health();
    expect(h.starts).toBeGreaterThanOrEqual(3);
    expect(h.exits).toBeGreaterThanOrEqual(2);
    expect(h.state).toBe('stopped'); // breaking out of the loop closed it
  });

  it('keeps only the newest frame while the consumer is busy, and kills the command on close', async () => {
    const frames = await Promise.all([10, 60, 110, 160, 210].map(jpeg));
    // One frame every 40 ms, then idle until killed.
    const paced = `
      const fs = require('node:fs');
      const files = process.argv.slice(1);
      files.forEach((f, k) => setTimeout(() => process.stdout.write(fs.readFileSync(f)), 40 * k));
      setInterval(() => {}, 1000);
    `;
    const files = frames.map((f, k) => {
      const path = join(dir, `frame-${k}.jpg`);
      writeFileSync(path, f);
      return path;
    });
    const source = new CommandMjpegSource({ command: process.execPath, args: ['-e', paced, ...files] });
    const iterator = source.frames()[Symbol.asyncIterator]();
    const first = await iterator.next(); // starts the command
    await new Promise((r) => setTimeout(r, 500)); // busy decoding: the other four arrive meanwhile
    const second = await iterator.next();
    expect([first.value, second.value].map((f) => frames.findIndex((x) => x.equals(f as Buffer)))).toEqual([0, 4]);
    expect(source.health()).toMatchObject({ frames: 5, dropped: 3, state: 'running' });
    const pending = iterator.next();
    await source.close();
    expect((await pending).done).toBe(true);
    expect(source.health()).toMatchObject({ state: 'stopped', exits: 1, lastExit: 'signal SIGTERM' });
  });

  it('a command that cannot start is retried with backoff and reported, never thrown', async () => {
    const source = new CommandMjpegSource({ command: join(dir, 'no-such-camera'), backoff: { initialMs: 10, maxMs: 20, jitter: 0 } });
    const iterator = source.frames()[Symbol.asyncIterator]();
    const pending = iterator.next();
    await new Promise((r) => setTimeout(r, 100));
    const h = source.health();
    expect(h.starts).toBeGreaterThanOrEqual(2);
    expect(String(h.lastExit)).toMatch(/ENOENT/);
    await source.close();
    expect((await pending).done).toBe(true);
  });

  it('defect 4: a capture command whose spawn fails with EMFILE (a child without pipes) is restarted, logged once, never a crash', async () => {
    const frames = [await jpeg(90)];
    let exhausted = 3;
    // What node's spawn does when the process is out of descriptors: a child without stdio, and
    // an 'error' event on the next tick.
    const spawn = ((command: string, args: string[], options: object) => {
      if (exhausted-- <= 0) return nodeSpawn(command, args, options);
      const child = Object.assign(new EventEmitter(), { stdout: null, stderr: null, pid: undefined, exitCode: null, signalCode: null });
      process.nextTick(() => child.emit('error', Object.assign(new Error('spawn capture EMFILE'), { code: 'EMFILE', syscall: 'spawn capture' })));
      return child;
    }) as unknown as typeof nodeSpawn;
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, error: (_o: object, m?: string) => void warnings.push(`error ${m}`), warn: (_o: object, m?: string) => void warnings.push(m ?? '') };
    const source = new CommandMjpegSource({
      command: process.execPath,
      args: ['-e', CHILD, streamFile('one.mjpeg', frames)],
      backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
      spawn,
      logger,
    });
    const iterator = source.frames()[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toEqual(frames[0]);
    expect(source.health()).toMatchObject({ starts: 4, exits: 3 });
    expect(warnings).toEqual(['camera command: resource exhausted; retrying with backoff']);
    await source.close();
  });
});

describe('ImageFileSource', () => {
  it('yields the files in order, skipping unreadable ones', async () => {
    const a = await jpeg(1);
    const b = await jpeg(2);
    writeFileSync(join(dir, 'a.jpg'), a);
    writeFileSync(join(dir, 'b.jpg'), b);
    const source = new ImageFileSource([join(dir, 'a.jpg'), join(dir, 'missing.jpg'), join(dir, 'b.jpg')]);
    const got: Buffer[] = [];
    for await (const f of source.frames()) got.push(f);
    expect(got).toEqual([a, b]);
    expect(source.health()).toMatchObject({ read: 2, errors: 1 });
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
