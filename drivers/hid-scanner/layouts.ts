/**
 * Keyboard layouts as data: HID usage (page 0x07) → the character typed without modifier, with
 * Shift, with AltGr. A scanner in keyboard-emulation mode "types" for a layout it is configured for;
 * the gate must decode with the same one (hardware.md §2.2: AZERTY turns `HA112` into `HA&&é`).
 * Dead keys are `{ dead: accent }`: dead + space gives the accent, dead + letter a composed letter.
 */

export type KeyOutput = string | { dead: string } | null;
export type KeyEntry = readonly [plain: KeyOutput, shift: KeyOutput, altGr?: KeyOutput];

export interface KeyboardLayout {
  readonly name: string;
  readonly keys: Readonly<Record<number, KeyEntry>>;
}

export const USAGE = {
  ENTER: 0x28,
  ESCAPE: 0x29,
  BACKSPACE: 0x2a,
  TAB: 0x2b,
  SPACE: 0x2c,
  CAPS_LOCK: 0x39,
  KP_ENTER: 0x58,
  ERROR_ROLL_OVER: 0x01,
} as const;

/** Keypad with Num Lock on; the decimal key is layout-specific. */
function keypad(decimal: string): Record<number, KeyEntry> {
  const k: Record<number, KeyEntry> = { 0x54: ['/', '/'], 0x55: ['*', '*'], 0x56: ['-', '-'], 0x57: ['+', '+'], 0x62: ['0', '0'], 0x63: [decimal, decimal] };
  for (let i = 0; i < 9; i++) k[0x59 + i] = [String(i + 1), String(i + 1)];
  return k;
}

function letters(map: Record<number, string> = {}): Record<number, KeyEntry> {
  const k: Record<number, KeyEntry> = {};
  for (let u = 0x04; u <= 0x1d; u++) {
    const c = map[u] ?? String.fromCharCode(0x61 + u - 0x04);
    k[u] = [c, c.toUpperCase()];
  }
  return k;
}

const common: Record<number, KeyEntry> = { [USAGE.SPACE]: [' ', ' '], [USAGE.TAB]: ['\t', '\t'] };

export const US: KeyboardLayout = {
  name: 'us',
  keys: {
    ...letters(),
    ...common,
    ...keypad('.'),
    0x1e: ['1', '!'], 0x1f: ['2', '@'], 0x20: ['3', '#'], 0x21: ['4', '$'], 0x22: ['5', '%'],
    0x23: ['6', '^'], 0x24: ['7', '&'], 0x25: ['8', '*'], 0x26: ['9', '('], 0x27: ['0', ')'],
    0x2d: ['-', '_'], 0x2e: ['=', '+'], 0x2f: ['[', '{'], 0x30: [']', '}'], 0x31: ['\\', '|'],
    0x32: ['\\', '|'], 0x33: [';', ':'], 0x34: ["'", '"'], 0x35: ['`', '~'], 0x36: [',', '<'],
    0x37: ['.', '>'], 0x38: ['/', '?'], 0x64: ['<', '>'],
  },
};

/** German QWERTZ (de-DE). */
export const DE: KeyboardLayout = {
  name: 'de',
  keys: {
    ...letters({ 0x1c: 'z', 0x1d: 'y' }),
    ...common,
    ...keypad(','),
    0x14: ['q', 'Q', '@'], 0x08: ['e', 'E', '€'], 0x10: ['m', 'M', 'µ'],
    0x1e: ['1', '!'], 0x1f: ['2', '"', '²'], 0x20: ['3', '§', '³'], 0x21: ['4', '$'], 0x22: ['5', '%'],
    0x23: ['6', '&'], 0x24: ['7', '/', '{'], 0x25: ['8', '(', '['], 0x26: ['9', ')', ']'], 0x27: ['0', '=', '}'],
    0x2d: ['ß', '?', '\\'], 0x2e: [{ dead: '´' }, { dead: '`' }], 0x2f: ['ü', 'Ü'], 0x30: ['+', '*', '~'],
    0x31: ['#', "'"], 0x32: ['#', "'"], 0x33: ['ö', 'Ö'], 0x34: ['ä', 'Ä'], 0x35: [{ dead: '^' }, '°'],
    0x36: [',', ';'], 0x37: ['.', ':'], 0x38: ['-', '_'], 0x64: ['<', '>', '|'],
  },
};

/** French AZERTY (fr-FR): digits need Shift. */
export const FR: KeyboardLayout = {
  name: 'fr',
  keys: {
    ...letters({ 0x04: 'q', 0x14: 'a', 0x1a: 'z', 0x1d: 'w' }),
    ...common,
    ...keypad('.'),
    0x08: ['e', 'E', '€'], 0x10: [',', '?'], 0x33: ['m', 'M'],
    0x1e: ['&', '1'], 0x1f: ['é', '2', { dead: '~' }], 0x20: ['"', '3', '#'], 0x21: ["'", '4', '{'],
    0x22: ['(', '5', '['], 0x23: ['-', '6', '|'], 0x24: ['è', '7', { dead: '`' }], 0x25: ['_', '8', '\\'],
    0x26: ['ç', '9', '^'], 0x27: ['à', '0', '@'], 0x2d: [')', '°', ']'], 0x2e: ['=', '+', '}'],
    0x2f: [{ dead: '^' }, { dead: '¨' }], 0x30: ['$', '£', '¤'], 0x31: ['*', 'µ'], 0x32: ['*', 'µ'],
    0x34: ['ù', '%'], 0x35: ['²', null], 0x36: [';', '.'], 0x37: [':', '/'], 0x38: ['!', '§'], 0x64: ['<', '>'],
  },
};

export const LAYOUTS: Readonly<Record<'us' | 'de' | 'fr', KeyboardLayout>> = { us: US, de: DE, fr: FR };

const COMBINING: Record<string, string> = { '^': '\u0302', '¨': '\u0308', '´': '\u0301', '`': '\u0300', '~': '\u0303' };

/** What a dead key followed by `next` types: the composed letter, the accent (space), or both. */
export function composeDead(accent: string, next: string): string {
  if (next === ' ') return accent;
  const mark = COMBINING[accent];
  if (mark) {
    const composed = (next + mark).normalize('NFC');
    if ([...composed].length === 1) return composed;
  }
  return accent + next;
}
