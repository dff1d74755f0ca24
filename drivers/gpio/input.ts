/**
 * `DigitalInput`: a debounced input (passage sensor, fire alarm, door contact). A level change must
 * hold for `debounceMs` before `change` fires. The wiring decides which level means "active":
 * contacts switch the pin to GND against a pull-up by default (set by `gpio=N=ip,pu` in config.txt;
 * sysfs cannot set pulls).
 */
import { checkInteger } from '../../base/check.js';
import { TypedEmitter } from '../common/emitter.js';
import { errorText, SILENT } from '../../base/log.js';
import type { Logger } from '../types.js';
import type { GpioChip, GpioLine, Level } from './line.js';

export interface DigitalInputOptions {
  /** BCM line number, [0…53]. */
  line: number;
  /** Physical level that means active, default 1. */
  activeLevel?: Level;
  /** A change must hold this long, [0…10000] ms, default 20. */
  debounceMs?: number;
  /** sysfs polling period, [1…1000] ms, default 5. */
  pollMs?: number;
  /** Default `input`. */
  name?: string;
  logger?: Logger;
}

export type Contact = 'normally-open' | 'normally-closed';
export type Pull = 'up' | 'down';

/**
 * The active level of a dry contact: with a pull-up, a normally-closed contact reads 0 at rest and 1
 * when it opens (or its wire is cut); a normally-open one the reverse; a pull-down swaps both.
 */
export function contactActiveLevel(contact: Contact, pull: Pull = 'up'): Level {
  return (contact === 'normally-closed') === (pull === 'up') ? 1 : 0;
}

export class DigitalInput extends TypedEmitter<{ change: [active: boolean] }> {
  readonly name: string;
  readonly activeLevel: Level;
  readonly debounceMs: number;
  readonly #line: GpioLine;
  readonly #log: Logger;
  readonly #unwatch: () => void;
  #active: boolean;
  #timer: NodeJS.Timeout | null = null;
  /** Changes reported after debounce. */
  changes = 0;

  static async open(chip: GpioChip, options: DigitalInputOptions): Promise<DigitalInput> {
    checkInteger('line', options.line, 0, 53);
    const line = await chip.input(options.line, { pollMs: options.pollMs ?? 5 });
    return new DigitalInput(line, options);
  }

  constructor(line: GpioLine, options: DigitalInputOptions) {
    super();
    this.name = options.name ?? 'input';
    this.activeLevel = options.activeLevel ?? 1;
    this.debounceMs = checkInteger('debounceMs', options.debounceMs ?? 20, 0, 10_000);
    this.#line = line;
    this.#log = options.logger ?? SILENT;
    this.#active = line.read() === this.activeLevel;
    this.#unwatch = line.watch(() => this.#onRaw());
  }

  /** The debounced state. */
  get active(): boolean {
    return this.#active;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#unwatch();
    this.#line.close();
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.#log.error({ input: this.name, event, err: errorText(err) }, 'input listener threw');
  }

  #onRaw(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.debounceMs === 0) return this.#settle();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#settle();
    }, this.debounceMs);
  }

  #settle(): void {
    const active = this.#line.read() === this.activeLevel;
    if (active === this.#active) return;
    this.#active = active;
    this.changes++;
    this.#log.info({ input: this.name, active }, 'input changed');
    this.emit('change', active);
  }
}

export interface ContactInputOptions extends Omit<DigitalInputOptions, 'activeLevel'> {
  /** Default `normally-closed` (a cut wire reads as active). */
  contact?: Contact;
  /** Default `up`. */
  pull?: Pull;
}

/**
 * The turnstile's fire-alarm input: active = alarm = release the barrier. Normally-closed by default
 * (PERCo TTR-10A §5.2.5), so a cut wire raises the alarm; debounce 50 ms.
 */
export function openFireAlarmInput(chip: GpioChip, options: ContactInputOptions): Promise<DigitalInput> {
  const { contact = 'normally-closed', pull = 'up', ...rest } = options;
  return DigitalInput.open(chip, { name: 'fire-alarm', debounceMs: 50, ...rest, activeLevel: contactActiveLevel(contact, pull) });
}

/**
 * A passage output of the turnstile ("PASS A/B": closed in powered idle, opens on a passage, TTR-10A
 * §5.2.7): active = someone passed. Normally-closed by default; debounce 20 ms.
 */
export function openPassageSensor(chip: GpioChip, options: ContactInputOptions): Promise<DigitalInput> {
  const { contact = 'normally-closed', pull = 'up', ...rest } = options;
  return DigitalInput.open(chip, { name: 'passage', debounceMs: 20, ...rest, activeLevel: contactActiveLevel(contact, pull) });
}
