/**
 * GPIO through the sysfs interface (`/sys/class/gpio`), with the root directory configurable so the
 * tests run against a fake tree in a temp dir.
 *
 * Why not onoff: it hard-codes `/sys/class/gpio/` (`GPIO_ROOT_PATH` in onoff.js), so it cannot run
 * against a fake tree, it takes the caller's number as the global sysfs number (wrong on kernel 6.6+
 * where the header chip starts at 512, or 571 on a Pi 5: onoff#199/#200, PR #204 unmerged), and its
 * `new Gpio(n, 'out')` writes direction `out`, which the kernel documents as "out, value 0": on an
 * active-low relay board that first instant at 0 V *energises the relay and opens the gate*
 * (hardware.md §3.2). Here an output is always created by writing direction `high` or `low` — the
 * kernel's atomic "output with this initial level" — chosen by the caller as the safe level, and
 * `active_low` is forced to 0 so that the level written is the level on the pin (inversion lives in
 * `Relay`). `out` is never written.
 *
 * Line numbering: the chip base is found at run time from `gpiochipN/label` + `base` (BCM line N =
 * base + N): `pinctrl-rp1` on a Pi 5, `pinctrl-bcm2711` on a Pi 4, `pinctrl-bcm2835` on earlier
 * models (hardware.md §3.1), or a configured label/base.
 *
 * A line's `value` file is opened once, when the line is claimed, and every write and read goes
 * through that descriptor at position 0 (`writeSync(fd, …)`, `readSync(fd, …)`): a process out of
 * descriptors (EMFILE) can still release the relay and still see the fire alarm.
 *
 * Inputs are polled (sysfs edge events need poll(2) with POLLPRI, which fs.watch cannot do); `edge`
 * is set to `none`. Lines stay exported on close: unexporting hands the pin back to its boot pull,
 * which is exactly the floating state a relay input must not see.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { deviceError, PassgateError } from '../../base/errors.js';
import { checkInteger } from '../../base/check.js';
import { SILENT } from '../../base/log.js';
import type { Logger } from '../types.js';
import type { GpioChip, GpioLine, InputLineOptions, Level } from './line.js';

/** The file operations used, injectable so tests can record every write (the "mock binding" of GPIO). */
export interface SysfsIo {
  writeFile(path: string, data: string): void;
  readFile(path: string): string;
  exists(path: string): boolean;
  readdir(path: string): string[];
  /** Opens a file for reading and writing and keeps it open (a line's `value`); returns the descriptor. */
  openForWrite(path: string): number;
  /** Writes at position 0 of an open descriptor (sysfs attributes are rewritten whole). */
  writeAt(fd: number, data: string): void;
  /** Reads an open descriptor from position 0 (sysfs attributes are re-read whole). */
  readAt(fd: number): string;
  closeFd(fd: number): void;
}

export const nodeSysfsIo: SysfsIo = {
  writeFile: (path, data) => fs.writeFileSync(path, data),
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  exists: (path) => fs.existsSync(path),
  readdir: (path) => fs.readdirSync(path),
  openForWrite: (path) => fs.openSync(path, 'r+'),
  writeAt: (fd, data) => void fs.writeSync(fd, data, 0),
  readAt: (fd) => {
    const buf = Buffer.alloc(16);
    return buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
  },
  closeFd: (fd) => fs.closeSync(fd),
};

/** Header GPIO controllers by label, most recent first. */
export const HEADER_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2712', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

export interface SysfsGpioOptions {
  /** sysfs root, default `/sys/class/gpio`. */
  root?: string;
  /** Chip label(s) to look for, in order; default `HEADER_CHIP_LABELS`. */
  chipLabel?: string | readonly string[];
  /** Skip discovery and use this base (the sysfs number of BCM line 0). */
  base?: number;
  /** How long to wait for `gpioN/` to appear (and udev to fix its permissions) after export, [0…10000] ms, default 2000. */
  exportTimeoutMs?: number;
  io?: SysfsIo;
  logger?: Logger;
}

export interface ChipInfo {
  chip: string;
  label: string;
  base: number;
  ngpio: number;
}

export class SysfsGpio implements GpioChip {
  readonly root: string;
  readonly #labels: readonly string[];
  readonly #fixedBase: number | undefined;
  readonly #exportTimeoutMs: number;
  readonly #io: SysfsIo;
  readonly #log: Logger;
  #chip: ChipInfo | null = null;
  readonly #claimed = new Set<number>();

  constructor(options: SysfsGpioOptions = {}) {
    this.root = options.root ?? '/sys/class/gpio';
    const labels = options.chipLabel ?? HEADER_CHIP_LABELS;
    this.#labels = typeof labels === 'string' ? [labels] : labels;
    if (options.base !== undefined) this.#fixedBase = checkInteger('base', options.base, 0, 65_535);
    this.#exportTimeoutMs = checkInteger('exportTimeoutMs', options.exportTimeoutMs ?? 2000, 0, 10_000);
    this.#io = options.io ?? nodeSysfsIo;
    this.#log = options.logger ?? SILENT;
  }

  /** Finds the header chip: by label in `gpiochipN/label`, its `base` and `ngpio`. */
  chip(): ChipInfo {
    if (this.#chip) return this.#chip;
    if (this.#fixedBase !== undefined) return (this.#chip = { chip: '(configured)', label: '(configured)', base: this.#fixedBase, ngpio: 65_536 - this.#fixedBase });
    let entries: string[];
    try {
      entries = this.#io.readdir(this.root).filter((e) => e.startsWith('gpiochip'));
    } catch (err) {
      throw new PassgateError('DEVICE_NOT_FOUND', `no GPIO sysfs at ${this.root} (${(err as Error).message})`);
    }
    const chips: ChipInfo[] = [];
    for (const chip of entries) {
      try {
        const dir = join(this.root, chip);
        chips.push({
          chip,
          label: this.#io.readFile(join(dir, 'label')).trim(),
          base: Number.parseInt(this.#io.readFile(join(dir, 'base')), 10),
          ngpio: Number.parseInt(this.#io.readFile(join(dir, 'ngpio')), 10),
        });
      } catch {
        // not a chip directory we can read
      }
    }
    for (const label of this.#labels) {
      const found = chips.find((c) => c.label === label && Number.isInteger(c.base));
      if (found) {
        this.#log.info({ chip: found.chip, label: found.label, base: found.base }, 'GPIO chip found');
        return (this.#chip = found);
      }
    }
    throw new PassgateError('DEVICE_NOT_FOUND', `no GPIO chip labelled ${this.#labels.join(' or ')} under ${this.root} (found: ${chips.map((c) => c.label).join(', ') || 'none'})`);
  }

  /** The sysfs number of BCM line `line`. */
  sysfsNumber(line: number): number {
    const chip = this.chip();
    checkInteger('GPIO line', line, 0, chip.ngpio - 1);
    return chip.base + line;
  }

  async output(line: number, initial: Level): Promise<GpioLine> {
    const n = this.#claim(line);
    try {
      const dir = await this.#export(n);
      this.#io.writeFile(join(dir, 'active_low'), '0');
      // Never `out`: `high`/`low` make the line an output already at the safe level.
      this.#io.writeFile(join(dir, 'direction'), initial === 1 ? 'high' : 'low');
      const fd = this.#io.openForWrite(join(dir, 'value'));
      return new SysfsLine(this.#io, dir, line, 'out', () => this.#claimed.delete(line), 5, fd);
    } catch (err) {
      this.#claimed.delete(line);
      throw deviceError(err, `GPIO ${line} (sysfs ${n}) as output`);
    }
  }

  async input(line: number, options: InputLineOptions = {}): Promise<GpioLine> {
    const pollMs = checkInteger('pollMs', options.pollMs ?? 5, 1, 1000);
    const n = this.#claim(line);
    try {
      const dir = await this.#export(n);
      this.#io.writeFile(join(dir, 'active_low'), '0');
      this.#io.writeFile(join(dir, 'direction'), 'in');
      if (this.#io.exists(join(dir, 'edge'))) this.#io.writeFile(join(dir, 'edge'), 'none');
      const fd = this.#io.openForWrite(join(dir, 'value'));
      return new SysfsLine(this.#io, dir, line, 'in', () => this.#claimed.delete(line), pollMs, fd);
    } catch (err) {
      this.#claimed.delete(line);
      throw deviceError(err, `GPIO ${line} (sysfs ${n}) as input`);
    }
  }

  #claim(line: number): number {
    const n = this.sysfsNumber(line);
    if (this.#claimed.has(line)) throw new PassgateError('LINE_IN_USE', `GPIO line ${line} is already in use`);
    this.#claimed.add(line);
    return n;
  }

  async #export(n: number): Promise<string> {
    const dir = join(this.root, `gpio${n}`);
    if (!this.#io.exists(join(dir, 'direction'))) {
      try {
        this.#io.writeFile(join(this.root, 'export'), String(n));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err; // EBUSY: exported meanwhile
      }
    }
    // udev may take a moment to create the node and give the gpio group access to it
    const deadline = Date.now() + this.#exportTimeoutMs;
    for (;;) {
      if (this.#io.exists(join(dir, 'direction'))) {
        try {
          fs.accessSync(join(dir, 'direction'), fs.constants.W_OK);
          return dir;
        } catch {
          if (this.#io !== nodeSysfsIo) return dir; // injected io: permissions are its business
        }
      }
      if (Date.now() >= deadline) throw new PassgateError('DEVICE_TIMEOUT', `gpio${n} did not appear after export`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

class SysfsLine implements GpioLine {
  readonly #watchers = new Set<(v: Level) => void>();
  #timer: NodeJS.Timeout | null = null;
  #last: Level | null = null;
  #closed = false;

  constructor(
    private readonly io: SysfsIo,
    readonly dir: string,
    readonly line: number,
    readonly direction: 'in' | 'out',
    private readonly release: () => void,
    private readonly pollMs = 5,
    /** The line's `value`, open from the claim to the close. */
    private readonly fd: number,
  ) {}

  write(value: Level): void {
    if (this.#closed) throw new PassgateError('DRIVER_CLOSED', `GPIO line ${this.line} is closed`);
    if (this.direction !== 'out') throw new PassgateError('NOT_AN_OUTPUT', `GPIO line ${this.line} is an input`);
    try {
      this.io.writeAt(this.fd, value === 1 ? '1' : '0');
    } catch (err) {
      throw deviceError(err, `write GPIO ${this.line}`);
    }
  }

  read(): Level {
    try {
      return this.io.readAt(this.fd).trim() === '1' ? 1 : 0;
    } catch (err) {
      throw deviceError(err, `read GPIO ${this.line}`);
    }
  }

  watch(callback: (value: Level) => void): () => void {
    this.#watchers.add(callback);
    if (!this.#timer && !this.#closed) {
      this.#last = this.read();
      this.#timer = setInterval(() => this.#poll(), this.pollMs);
      this.#timer.unref();
    }
    return () => {
      this.#watchers.delete(callback);
      if (this.#watchers.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }

  /** Stops polling and frees the line; the line stays exported (and an output keeps its level). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#watchers.clear();
    try {
      this.io.closeFd(this.fd);
    } catch {
      // already gone: nothing holds it
    }
    this.release();
  }

  #poll(): void {
    let v: Level;
    try {
      v = this.read();
    } catch {
      return; // a transient read error: keep the last level
    }
    if (v === this.#last) return;
    this.#last = v;
    for (const w of [...this.#watchers]) w(v);
  }
}
