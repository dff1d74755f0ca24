/**
 * Shared by the serial and HID scanners: AIM symbology identifiers and the check that a code's bytes
 * are text the verifier may see. Pure.
 */

export const MAX_CODE_BYTES = 4096;

/** `]` + letter + digit at the start (AIM ISO/IEC 15424), e.g. `]Q1`. */
export function aimPrefix(bytes: Uint8Array): string | null {
  if (bytes.length < 3 || bytes[0] !== 0x5d) return null;
  const letter = bytes[1]!;
  const digit = bytes[2]!;
  const isLetter = (letter >= 0x41 && letter <= 0x5a) || (letter >= 0x61 && letter <= 0x7a);
  const isDigit = digit >= 0x30 && digit <= 0x39;
  return isLetter && isDigit ? String.fromCharCode(0x5d, letter, digit) : null;
}

/** Which AIM identifiers a scanner accepts. */
export interface AimPolicy {
  /**
   * `any` (default) accepts every symbology; `qr` only `]Q0`…`]Q9` (QR and Micro QR, which AIM does
   * not tell apart), rejecting other symbologies and, with `requireAim`, lines without an AIM id.
   */
  acceptAim?: 'any' | 'qr';
  /** Reject codes without an AIM identifier; default false (scanners ship with AIM off). */
  requireAim?: boolean;
}

/** null when accepted, otherwise the reason for an `unreadable` scan. */
export function aimRejection(aim: string | null, policy: AimPolicy): string | null {
  if (aim === null) return policy.requireAim ? 'no AIM symbology identifier' : null;
  if ((policy.acceptAim ?? 'any') === 'qr' && aim[1] !== 'Q') return `symbology ${aim} not accepted`;
  return null;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes code bytes as UTF-8 text. C0 controls other than TAB, CR, LF and GS (GS1 separator) and
 * DEL are refused as garbage (line noise, wrong baud rate, a keyboard wedge's stray keys).
 */
export function decodeCodeText(bytes: Uint8Array): { text: string } | { unreadable: string } {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { unreadable: 'not valid UTF-8' };
  }
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x1d) || b === 0x7f) {
      return { unreadable: 'control character in code' };
    }
  }
  return { text };
}

export type CodeResult =
  | { ok: true; text: string; aim: string | null }
  | { ok: false; unreadable: string; aim: string | null };

/** One complete code as bytes (terminator removed): AIM id stripped and checked, text decoded. */
export function interpretCode(bytes: Uint8Array, policy: AimPolicy = {}): CodeResult {
  const aim = aimPrefix(bytes);
  const rejected = aimRejection(aim, policy);
  if (rejected) return { ok: false, unreadable: rejected, aim };
  const body = aim ? bytes.subarray(3) : bytes;
  if (body.length === 0) return { ok: false, unreadable: 'empty code', aim };
  const decoded = decodeCodeText(body);
  return 'text' in decoded ? { ok: true, text: decoded.text, aim } : { ok: false, unreadable: decoded.unreadable, aim };
}
