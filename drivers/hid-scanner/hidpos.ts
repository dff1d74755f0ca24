/**
 * HID Point-of-Sale scanner reports (usage page 0x8C, Scanned Data Report), hardware.md §2.3. Pure.
 *
 * Access-IS layout, offsets with the report ID present (hidapi puts it in byte 0):
 *
 *   0 report ID (2) · 1 data length · 2–4 AIM id (`]Q1`) · 5–60 data (≤ 56 B) ·
 *   61 further symbology id · 62 reserved · 63 bit 0 = more reports follow
 *
 * Without the report-ID byte (`reportId: null`) every offset is one less. Reports are concatenated
 * until one arrives with the "more" bit clear; the AIM id of the first report applies.
 */
import { aimRejection, decodeCodeText, MAX_CODE_BYTES, type AimPolicy, type CodeResult } from '../common/code-text.js';
import { checkInteger } from '../../base/check.js';

export interface HidPosDecoderOptions extends AimPolicy {
  /** Report ID expected in byte 0 (default 2); null when reports arrive without it. */
  reportId?: number | null;
  /** Some firmware counts the 3 AIM bytes in the length byte; default false. */
  lengthIncludesAim?: boolean;
  /** Longest code in bytes, [16…65536], default 4096. */
  maxLength?: number;
  /** Drop one trailing CR, LF or CR LF the scanner may append as a suffix; default true. */
  stripSuffix?: boolean;
}

export const HIDPOS_DATA_BYTES = 56;

export class HidPosDecoder {
  readonly #reportId: number | null;
  readonly #lengthIncludesAim: boolean;
  readonly #max: number;
  readonly #stripSuffix: boolean;
  readonly #policy: AimPolicy;
  #parts: Buffer[] = [];
  #size = 0;
  #aim: string | null = null;
  #inCode = false;
  #overflow = false;
  /** Reports ignored because their report ID was another one. */
  otherReports = 0;

  constructor(options: HidPosDecoderOptions = {}) {
    this.#reportId = options.reportId === undefined ? 2 : options.reportId;
    this.#lengthIncludesAim = options.lengthIncludesAim ?? false;
    this.#max = checkInteger('maxLength', options.maxLength ?? MAX_CODE_BYTES, 16, 65_536);
    this.#stripSuffix = options.stripSuffix ?? true;
    this.#policy = { acceptAim: options.acceptAim ?? 'any', requireAim: options.requireAim ?? false };
  }

  reset(): void {
    for (const p of this.#parts) p.fill(0);
    this.#parts = [];
    this.#size = 0;
    this.#aim = null;
    this.#inCode = false;
    this.#overflow = false;
  }

  /** An unfinished multi-report code (device lost mid-code): unreadable if anything was pending. */
  flush(): CodeResult[] {
    const had = this.#inCode;
    this.reset();
    return had ? [{ ok: false, unreadable: 'code not terminated', aim: null }] : [];
  }

  push(report: Uint8Array): CodeResult[] {
    let base = 0;
    if (this.#reportId !== null) {
      if (report[0] !== this.#reportId) {
        this.otherReports++;
        return [];
      }
      base = 1;
    }
    if (report.length < base + 5) return [];
    let length = report[base]!;
    if (this.#lengthIncludesAim) length = Math.max(0, length - 3);
    length = Math.min(length, HIDPOS_DATA_BYTES, report.length - (base + 4));
    const flags = report[base + 62] ?? 0;
    if (!this.#inCode) {
      this.#inCode = true;
      const aimBytes = report.subarray(base + 1, base + 4);
      this.#aim = aimBytes[0] === 0x5d ? Buffer.from(aimBytes).toString('latin1') : null;
    }
    if (!this.#overflow) {
      if (this.#size + length > this.#max) {
        this.#overflow = true;
        for (const p of this.#parts) p.fill(0);
        this.#parts = [];
      } else {
        this.#parts.push(Buffer.from(report.subarray(base + 4, base + 4 + length)));
        this.#size += length;
      }
    }
    if (flags & 0x01) return []; // more reports follow
    return [this.#finish()];
  }

  #finish(): CodeResult {
    const aim = this.#aim && /^\][A-Za-z][0-9]$/.test(this.#aim) ? this.#aim : null;
    const overflow = this.#overflow;
    let data = Buffer.concat(this.#parts);
    this.reset();
    if (overflow) return { ok: false, unreadable: `code over ${this.#max} bytes`, aim };
    const rejected = aimRejection(aim, this.#policy);
    if (rejected) return { ok: false, unreadable: rejected, aim };
    if (this.#stripSuffix) {
      if (data.length >= 2 && data[data.length - 2] === 0x0d && data[data.length - 1] === 0x0a) data = data.subarray(0, -2);
      else if (data.length >= 1 && (data[data.length - 1] === 0x0d || data[data.length - 1] === 0x0a)) data = data.subarray(0, -1);
    }
    if (data.length === 0) return { ok: false, unreadable: 'empty code', aim };
    const decoded = decodeCodeText(data);
    data.fill(0);
    return 'text' in decoded ? { ok: true, text: decoded.text, aim } : { ok: false, unreadable: decoded.unreadable, aim };
  }
}

/** Splits a code into HID-POS reports as an Access-IS scanner sends them (simulator and tests). */
export function encodeHidPosReports(data: Uint8Array | string, options: { aim?: string; reportId?: number | null; lengthIncludesAim?: boolean } = {}): Buffer[] {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  const aim = Buffer.from((options.aim ?? ']Q1').padEnd(3, '\0').slice(0, 3), 'latin1');
  const withId = options.reportId !== null;
  const reports: Buffer[] = [];
  for (let i = 0; i === 0 || i < bytes.length; i += HIDPOS_DATA_BYTES) {
    const part = bytes.subarray(i, i + HIDPOS_DATA_BYTES);
    const r = Buffer.alloc(64);
    r[0] = options.reportId ?? 2;
    r[1] = part.length + (options.lengthIncludesAim ? 3 : 0);
    aim.copy(r, 2);
    part.copy(r, 5);
    r[63] = i + HIDPOS_DATA_BYTES < bytes.length ? 0x01 : 0x00;
    reports.push(withId ? r : r.subarray(1));
  }
  return reports;
}
