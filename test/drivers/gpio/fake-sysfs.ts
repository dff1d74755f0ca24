/**
 * A fake `/sys/class/gpio` in a temp dir: `gpiochipN/{label,base,ngpio}`, and an io wrapper that
 * does what the kernel does on `export` (creates `gpioN/` with direction, value, active_low, edge),
 * on `unexport`, and on writing `high`/`low` to `direction` (sets `value`), while recording every
 * write in order — the GPIO counterpart of the mock binding's `recording`.
 *
 * `exhausted = true` makes the process look out of file descriptors, as `ulimit -n` does under a
 * flood of connections: every call that would open a file fails with EMFILE, while descriptors
 * opened before keep working.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { nodeSysfsIo, type SysfsIo } from '../../../drivers/gpio/sysfs.js';

export interface FakeChip {
  label: string;
  base: number;
  ngpio: number;
}

export const PI5_CHIPS: FakeChip[] = [
  { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
  { label: 'gpio-brcmstb@107d517c00', base: 544, ngpio: 15 },
  { label: 'pinctrl-rp1', base: 571, ngpio: 54 },
];
export const PI4_CHIPS: FakeChip[] = [
  { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
  { label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
];

export class FakeSysfs {
  readonly root: string;
  readonly writes: Array<{ file: string; value: string }> = [];
  /** Delay the appearance of gpioN/ after export (as udev does), ms. */
  exportDelayMs = 0;
  /** Every new open fails with EMFILE (descriptors already open still work). */
  exhausted = false;
  /** Calls refused while exhausted. */
  refusedOpens = 0;
  readonly io: SysfsIo;
  readonly #fds = new Map<number, string>();

  constructor(chips: FakeChip[] = PI5_CHIPS) {
    this.root = mkdtempSync(join(tmpdir(), 'passgate-sysfs-'));
    writeFileSync(join(this.root, 'export'), '');
    writeFileSync(join(this.root, 'unexport'), '');
    for (const c of chips) {
      const dir = join(this.root, `gpiochip${c.base}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'label'), `${c.label}\n`);
      writeFileSync(join(dir, 'base'), `${c.base}\n`);
      writeFileSync(join(dir, 'ngpio'), `${c.ngpio}\n`);
    }
    const opening = <T>(fn: () => T): T => {
      if (this.exhausted) {
        this.refusedOpens++;
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE', errno: -24 });
      }
      return fn();
    };
    this.io = {
      ...nodeSysfsIo,
      readFile: (path) => opening(() => nodeSysfsIo.readFile(path)),
      exists: (path) => nodeSysfsIo.exists(path),
      openForWrite: (path) =>
        opening(() => {
          const fd = nodeSysfsIo.openForWrite(path);
          this.#fds.set(fd, path.slice(this.root.length + 1));
          return fd;
        }),
      writeAt: (fd, data) => {
        nodeSysfsIo.writeAt(fd, data);
        this.writes.push({ file: this.#fds.get(fd) ?? `fd ${fd}`, value: data });
      },
      closeFd: (fd) => {
        this.#fds.delete(fd);
        nodeSysfsIo.closeFd(fd);
      },
      writeFile: (path, data) => opening(() => this.#writeFile(path, data)),
    };
  }

  #writeFile(path: string, data: string): void {
    const file = path.slice(this.root.length + 1);
    this.writes.push({ file, value: data });
    if (file === 'export') return this.#export(Number(data));
    if (file === 'unexport') return rmSync(join(this.root, `gpio${Number(data)}`), { recursive: true, force: true });
    nodeSysfsIo.writeFile(path, data);
    if (basename(path) === 'direction' && (data === 'high' || data === 'low')) {
      nodeSysfsIo.writeFile(join(dirname(path), 'value'), data === 'high' ? '1\n' : '0\n');
    }
  }

  /** Writes to one line's files, in order (`direction`, `value`, …). */
  lineWrites(n: number): Array<{ file: string; value: string }> {
    return this.writes.filter((w) => w.file.startsWith(`gpio${n}/`)).map((w) => ({ file: w.file.slice(`gpio${n}/`.length), value: w.value }));
  }

  /** Physical levels the line was driven to, in order: `direction high/low` and `value` writes. */
  levels(n: number): Array<0 | 1> {
    return this.lineWrites(n).flatMap((w) => {
      if (w.file === 'direction') return w.value === 'high' ? [1 as const] : w.value === 'low' ? [0 as const] : [];
      if (w.file === 'value') return [w.value.trim() === '1' ? (1 as const) : (0 as const)];
      return [];
    });
  }

  /** Sets an input's level from outside (a sensor). */
  drive(n: number, level: 0 | 1): void {
    nodeSysfsIo.writeFile(join(this.root, `gpio${n}`, 'value'), `${level}\n`);
  }

  /** Pre-exports a line as another process (or a crashed run) left it. */
  preExport(n: number, files: Record<string, string>): void {
    this.#create(n);
    for (const [f, v] of Object.entries(files)) writeFileSync(join(this.root, `gpio${n}`, f), v);
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  #export(n: number): void {
    if (this.exportDelayMs > 0) setTimeout(() => this.#create(n), this.exportDelayMs);
    else this.#create(n);
  }

  #create(n: number): void {
    const dir = join(this.root, `gpio${n}`);
    mkdirSync(dir, { recursive: true });
    for (const [f, v] of Object.entries({ direction: 'in\n', value: '0\n', active_low: '0\n', edge: 'none\n' })) writeFileSync(join(dir, f), v);
  }
}
