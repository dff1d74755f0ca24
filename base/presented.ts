/**
 * The driver contract's payload: what a scanner or reader delivered, exactly what the decision core
 * takes. It lives on the ground floor so that drivers (which produce it) and the core (which judges
 * it) share it without either importing the other.
 *
 * Personal data: an ID number and a display name (PROTOCOL §2's rule, base/display.ts) travel in
 * memory to the verifier only; drivers never log either, nor scanned text.
 */

export type InputKind = 'qr' | 'idcard';

/** Card readers hand over the normalised fields they read. */
export type Presented =
  | { input: 'qr'; text: string }
  | { input: 'idcard'; idNumber: string; maskedName?: string }
  /** The driver got nothing usable: over-long line, garbage, failed card read. */
  | { input: InputKind; unreadable: string };
