/** Resident ID numbers (GB 11643-1999, ISO 7064 MOD 11-2) and the holder handle of §5. */
import { createHmac } from 'node:crypto';

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';
const FORM = /^\d{6}(\d{4})(\d{2})(\d{2})\d{3}[\dX]$/;

/**
 * Upper-cases and trims; returns null unless the form, the birth date and the check digit are right
 * (§5): the birth date (characters 7–14) must be a real calendar date (no 31 February, 29 February
 * only in leap years) and not after today. "Today" is the latest calendar date anywhere (UTC+14), so
 * no gate's own today is refused whatever its time zone.
 */
export function normaliseIdNumber(raw: string, nowMs: number): string | null {
  const id = raw.trim().toUpperCase();
  const m = FORM.exec(id);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const birth = new Date(Date.UTC(year, month - 1, day));
  if (birth.getUTCFullYear() !== year || birth.getUTCMonth() !== month - 1 || birth.getUTCDate() !== day) return null;
  const latestToday = new Date(nowMs + 14 * 3600_000);
  if (birth.getTime() > Date.UTC(latestToday.getUTCFullYear(), latestToday.getUTCMonth(), latestToday.getUTCDate())) return null;
  return checkDigit(id.slice(0, 17)) === id[17] ? id : null;
}

export function checkDigit(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i]!;
  return CHECK[sum % 11]!;
}

/** `hex(HMAC-SHA-256(holderKey, normalised ID number)[0:16])` */
export function holderHandle(holderKey: Uint8Array, normalisedId: string): string {
  return createHmac('sha256', holderKey).update(normalisedId, 'utf8').digest().subarray(0, 16).toString('hex');
}
