/**
 * The text block of a `30 01` read (hardware.md §1.4–1.5, GA/T 490): 256 bytes of UTF-16LE,
 * space-padded, fields at fixed offsets. Pure. Only what the gate needs leaves this module: the ID
 * number (from its fixed 36-byte field, keeping a trailing X) and the name as PROTOCOL §2 lets it be
 * shown (base/display.ts: first character and at most three `*`; none for a blank name). The photo (WLT)
 * is never decoded or copied, and the buffers are zeroed by the caller.
 */
import { displayName } from '../../base/display.js';

/** Text offsets in bytes and sizes (characters × 2). */
export const TEXT_LAYOUT = {
  name: [0, 30],
  gender: [30, 2],
  nation: [32, 4],
  birthDate: [36, 16],
  address: [52, 70],
  idNumber: [122, 36],
  authority: [158, 30],
  validFrom: [188, 16],
  validTo: [204, 16],
  reserved: [220, 36],
} as const;

export const TEXT_BYTES = 256;
/** Foreigner permanent residence card (2017) sets a card-type mark "I" here; resident cards leave it blank. */
export const CARD_TYPE_MARK_OFFSET = 248;

export type CardText =
  | { ok: true; idNumber: string; maskedName?: string }
  | { ok: false; unreadable: string };

function field(text: Uint8Array, [offset, size]: readonly [number, number]): string {
  return Buffer.from(text.buffer, text.byteOffset + offset, size)
    .toString('utf16le')
    .replace(/[\s\u0000\u3000]+$/u, '');
}

/**
 * Parses the data of a successful read reply: text length (BE), photo length (BE), [fingerprint
 * length (BE) with `30 10`], text, photo, [fingerprint].
 */
export function parseReadData(data: Uint8Array, withFingerprint = false): CardText {
  const lengths = withFingerprint ? 6 : 4;
  if (data.length < lengths) return { ok: false, unreadable: 'card read reply too short' };
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  const textLen = view.readUInt16BE(0);
  const photoLen = view.readUInt16BE(2);
  const fpLen = withFingerprint ? view.readUInt16BE(4) : 0;
  if (textLen < TEXT_BYTES) return { ok: false, unreadable: `card text block too short (${textLen} bytes)` };
  if (data.length < lengths + textLen + photoLen + fpLen) return { ok: false, unreadable: 'card read reply truncated' };
  return parseTextBlock(data.subarray(lengths, lengths + textLen));
}

export function parseTextBlock(text: Uint8Array): CardText {
  if (text.length < TEXT_BYTES) return { ok: false, unreadable: 'card text block too short' };
  // Card-type mark first (hardware.md §1.5): other card types put other fields at these offsets.
  const mark = Buffer.from(text.buffer, text.byteOffset + CARD_TYPE_MARK_OFFSET, 2).toString('utf16le');
  if (mark !== ' ' && mark !== '\u0000') {
    const what = mark === 'I' ? ' (foreigner permanent residence card)' : '';
    return { ok: false, unreadable: `unsupported card type${what}` };
  }
  const idNumber = field(text, TEXT_LAYOUT.idNumber).toUpperCase();
  // The core checks form and check digit (ID_INVALID); refuse only what cannot be an ID field at all.
  if (!/^[0-9A-Z]{1,18}$/.test(idNumber)) return { ok: false, unreadable: 'ID number field unreadable' };
  const name = field(text, TEXT_LAYOUT.name);
  const shown = displayName(name);
  return shown === null ? { ok: true, idNumber } : { ok: true, idNumber, maskedName: shown };
}

/** Test/simulator data for one card (fake-reader.ts); real cards come from the SAM. */
export interface CardFields {
  name: string;
  idNumber: string;
  gender?: string;
  nation?: string;
  birthDate?: string;
  address?: string;
  authority?: string;
  validFrom?: string;
  validTo?: string;
  /** Card-type mark at offset 248: blank for resident cards, `I` for the 2017 foreigner card. */
  typeMark?: string;
}

/** Encodes a resident-card text block (256 bytes, UTF-16LE, space-padded). */
export function encodeTextBlock(card: CardFields): Buffer {
  const out = Buffer.alloc(TEXT_BYTES);
  const put = ([offset, size]: readonly [number, number], value: string): void => {
    const chars = size / 2;
    const v = [...value].slice(0, chars).join('');
    Buffer.from(v.padEnd(chars, ' '), 'utf16le').copy(out, offset, 0, size);
  };
  put(TEXT_LAYOUT.name, card.name);
  put(TEXT_LAYOUT.gender, card.gender ?? '1');
  put(TEXT_LAYOUT.nation, card.nation ?? '01');
  put(TEXT_LAYOUT.birthDate, card.birthDate ?? card.idNumber.slice(6, 14));
  put(TEXT_LAYOUT.address, card.address ?? '');
  put(TEXT_LAYOUT.idNumber, card.idNumber);
  put(TEXT_LAYOUT.authority, card.authority ?? '');
  put(TEXT_LAYOUT.validFrom, card.validFrom ?? '20200101');
  put(TEXT_LAYOUT.validTo, card.validTo ?? '20400101');
  put(TEXT_LAYOUT.reserved, '');
  if (card.typeMark) Buffer.from(card.typeMark.slice(0, 1), 'utf16le').copy(out, CARD_TYPE_MARK_OFFSET);
  return out;
}
