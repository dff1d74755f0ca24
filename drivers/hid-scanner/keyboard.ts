/**
 * Keyboard-emulation ("wedge") decoding from raw boot-keyboard reports (hardware.md §2.2). Pure.
 *
 * Report: `[modifiers, reserved, key1 … key6]` (8 bytes; optionally after a report-ID byte).
 * Characters are taken on key-down edges only (a key present now and absent from the previous
 * report), so a held key or a repeated report types nothing twice. Shift is `modifiers & 0x22`,
 * AltGr `& 0x40`; Ctrl, Alt and GUI make the code unreadable (a scanner never needs them to type
 * data). Enter (or keypad Enter) ends a code; the text then goes through the same AIM and text checks
 * as serial lines.
 */
import { interpretCode, MAX_CODE_BYTES, type AimPolicy, type CodeResult } from '../common/code-text.js';
import { checkInteger } from '../../base/check.js';
import { PassgateError } from '../../base/errors.js';
import { composeDead, LAYOUTS, USAGE, type KeyboardLayout } from './layouts.js';

export interface KeyboardDecoderOptions extends AimPolicy {
  /** Layout the scanner is configured for: `us` (default), `de`, `fr`, or a table. */
  layout?: 'us' | 'de' | 'fr' | KeyboardLayout;
  /** Report ID byte in front of each report, or null (default) for plain 8-byte boot reports. */
  reportId?: number | null;
  /** Longest code in UTF-8 bytes, [16…65536], default 4096. */
  maxLength?: number;
}

const SHIFT = 0x22;
const ALTGR = 0x40;
const OTHER_MODIFIERS = 0x01 | 0x04 | 0x08 | 0x10 | 0x80;

export function resolveLayout(layout: KeyboardDecoderOptions['layout']): KeyboardLayout {
  if (layout === undefined) return LAYOUTS.us;
  if (typeof layout === 'string') {
    const l = LAYOUTS[layout];
    if (!l) throw new PassgateError('BAD_CONFIG', `layout must be one of us, de, fr, got ${String(layout)}`);
    return l;
  }
  return layout;
}

export class KeyboardDecoder {
  readonly layout: KeyboardLayout;
  readonly #reportId: number | null;
  readonly #max: number;
  readonly #policy: AimPolicy;
  #previous = new Set<number>();
  #text = '';
  #bytes = 0;
  #fault: string | null = null;
  #overflow = false;
  #dead: string | null = null;

  constructor(options: KeyboardDecoderOptions = {}) {
    this.layout = resolveLayout(options.layout);
    this.#reportId = options.reportId ?? null;
    this.#max = checkInteger('maxLength', options.maxLength ?? MAX_CODE_BYTES, 16, 65_536);
    this.#policy = { acceptAim: options.acceptAim ?? 'any', requireAim: options.requireAim ?? false };
  }

  /** Characters typed since the last Enter. */
  get pending(): number {
    return this.#text.length + (this.#overflow || this.#fault ? 1 : 0);
  }

  reset(): void {
    this.#previous = new Set();
    this.#clear();
  }

  /** Feeds one input report; returns the codes it completed. */
  push(report: Uint8Array): CodeResult[] {
    let r = report;
    if (this.#reportId !== null) {
      if (r[0] !== this.#reportId) return [];
      r = r.subarray(1);
    }
    if (r.length < 3) return [];
    const modifiers = r[0]!;
    const keys = [...r.subarray(2, 8)].filter((k) => k !== 0);
    if (keys.includes(USAGE.ERROR_ROLL_OVER)) return []; // phantom state: too many keys; wait for a real report
    const out: CodeResult[] = [];
    const now = new Set(keys);
    for (const key of keys) {
      if (this.#previous.has(key)) continue; // held, not a new press
      this.#press(key, modifiers, out);
    }
    this.#previous = now;
    return out;
  }

  /** Ends an unterminated code (after an idle gap): one `unreadable` if anything was typed. */
  flush(): CodeResult[] {
    const had = this.#text.length > 0 || this.#overflow || this.#fault !== null || this.#dead !== null;
    this.#clear();
    return had ? [{ ok: false, unreadable: 'code not terminated', aim: null }] : [];
  }

  #press(key: number, modifiers: number, out: CodeResult[]): void {
    if (key === USAGE.ENTER || key === USAGE.KP_ENTER) {
      out.push(...this.#finish());
      return;
    }
    if (key === USAGE.CAPS_LOCK) return;
    if (this.#overflow) return;
    if (modifiers & OTHER_MODIFIERS) {
      this.#fault ??= 'modifier key in code';
      return;
    }
    const entry = this.layout.keys[key];
    const level = modifiers & ALTGR ? 2 : modifiers & SHIFT ? 1 : 0;
    const output = entry?.[level] ?? null;
    if (output === null) {
      this.#fault ??= `unmapped key 0x${key.toString(16).padStart(2, '0')}`;
      return;
    }
    if (typeof output === 'object') {
      if (this.#dead !== null) this.#append(composeDead(this.#dead, ' '));
      this.#dead = output.dead;
      return;
    }
    if (this.#dead !== null) {
      const accent = this.#dead;
      this.#dead = null;
      this.#append(composeDead(accent, output));
    } else this.#append(output);
  }

  #append(s: string): void {
    this.#bytes += Buffer.byteLength(s, 'utf8');
    if (this.#bytes > this.#max) {
      this.#overflow = true;
      this.#text = '';
      return;
    }
    this.#text += s;
  }

  #finish(): CodeResult[] {
    if (this.#dead !== null) this.#append(this.#dead);
    const text = this.#text;
    const fault = this.#overflow ? `code over ${this.#max} bytes` : this.#fault;
    this.#clear();
    if (fault) return [{ ok: false, unreadable: fault, aim: null }];
    if (text.length === 0) return [];
    return [interpretCode(Buffer.from(text, 'utf8'), this.#policy)];
  }

  #clear(): void {
    this.#text = '';
    this.#bytes = 0;
    this.#fault = null;
    this.#overflow = false;
    this.#dead = null;
  }
}

/**
 * Types `text` as a scanner set to `layout` would: key-down and all-keys-up reports, Enter at the
 * end. For the simulated twin and tests. Characters the layout cannot type throw BAD_CONFIG.
 */
export function encodeKeyboardReports(text: string, layout: 'us' | 'de' | 'fr' | KeyboardLayout = 'us', options: { reportId?: number | null; enter?: boolean } = {}): Buffer[] {
  const table = resolveLayout(layout);
  const reverse = new Map<string, [number, number]>();
  const deadKeys = new Map<string, [number, number]>();
  for (const [usage, entry] of Object.entries(table.keys)) {
    entry.forEach((out, level) => {
      if (typeof out === 'string' && !reverse.has(out)) reverse.set(out, [Number(usage), level]);
      if (out && typeof out === 'object' && !deadKeys.has(out.dead)) deadKeys.set(out.dead, [Number(usage), level]);
    });
  }
  const mod = (level: number): number => (level === 2 ? ALTGR : level === 1 ? 0x02 : 0);
  const reports: Buffer[] = [];
  const prefix = options.reportId == null ? [] : [options.reportId];
  const press = (usage: number, level: number): void => {
    reports.push(Buffer.from([...prefix, mod(level), 0, usage, 0, 0, 0, 0, 0]));
    reports.push(Buffer.from([...prefix, 0, 0, 0, 0, 0, 0, 0, 0]));
  };
  for (const ch of text) {
    const direct = reverse.get(ch);
    if (direct) {
      press(...direct);
      continue;
    }
    const dead = deadKeys.get(ch);
    if (dead) {
      press(...dead);
      press(USAGE.SPACE, 0);
      continue;
    }
    throw new PassgateError('CANNOT_TYPE', `layout ${table.name} cannot type U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  if (options.enter ?? true) press(USAGE.ENTER, 0);
  return reports;
}
