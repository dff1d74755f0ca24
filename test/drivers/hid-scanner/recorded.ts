/**
 * Report sequences in the shape hidraw delivers them (hex, one report per string), written down by
 * hand from the report formats in hardware.md §2.2–2.3: key-down / all-up pairs, a held Shift with
 * roll-over, an ErrorRollOver report, and Access-IS HID-POS reports.
 */
const r = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** A US-layout wedge typing `]Q1HC1:6B` then Enter; the `H`/`C` pair rolls over under a held Shift. */
export const US_WEDGE_HC1 = [
  '00 00 30 00 00 00 00 00', // ]
  '00 00 00 00 00 00 00 00',
  '02 00 14 00 00 00 00 00', // Shift+q → Q
  '02 00 00 00 00 00 00 00', // Shift still held, key up
  '00 00 1e 00 00 00 00 00', // 1
  '00 00 00 00 00 00 00 00',
  '02 00 0b 00 00 00 00 00', // Shift+h → H
  '02 00 0b 06 00 00 00 00', // roll-over: c pressed while h still down → C
  '02 00 06 00 00 00 00 00', // h released: no new key
  '02 00 06 00 00 00 00 00', // repeated report: nothing
  '00 00 00 00 00 00 00 00',
  '00 00 1e 00 00 00 00 00', // 1
  '00 00 00 00 00 00 00 00',
  '20 00 33 00 00 00 00 00', // RShift+; → :
  '00 00 00 00 00 00 00 00',
  '00 00 23 00 00 00 00 00', // 6
  '00 00 01 01 01 01 01 01', // ErrorRollOver phantom report: ignored
  '00 00 00 00 00 00 00 00',
  '02 00 05 00 00 00 00 00', // Shift+b → B
  '00 00 00 00 00 00 00 00',
  '00 00 28 00 00 00 00 00', // Enter
  '00 00 00 00 00 00 00 00',
].map(r);

/**
 * A US-configured scanner sending `HA112`: an AZERTY host reads the digits as `&&é` (the mismatch of
 * barcode-to-pc-server#166) and the US `a` key as `q`.
 */
export const US_WEDGE_HA112 = [
  '02 00 0b 00 00 00 00 00', '00 00 00 00 00 00 00 00', // H
  '02 00 04 00 00 00 00 00', '00 00 00 00 00 00 00 00', // A
  '00 00 1e 00 00 00 00 00', '00 00 00 00 00 00 00 00', // 1
  '00 00 1e 00 00 00 00 00', '00 00 00 00 00 00 00 00', // 1
  '00 00 1f 00 00 00 00 00', '00 00 00 00 00 00 00 00', // 2
  '00 00 28 00 00 00 00 00', '00 00 00 00 00 00 00 00', // Enter
].map(r);

/** An AZERTY-configured scanner sending `HA112`: Shift for the digits, A on the US `q` key. */
export const FR_WEDGE_HA112 = [
  '02 00 0b 00 00 00 00 00', '00 00 00 00 00 00 00 00', // H
  '02 00 14 00 00 00 00 00', '00 00 00 00 00 00 00 00', // A (US q position)
  '02 00 1e 00 00 00 00 00', '00 00 00 00 00 00 00 00', // Shift+& → 1
  '02 00 1e 00 00 00 00 00', '00 00 00 00 00 00 00 00', // 1
  '02 00 1f 00 00 00 00 00', '00 00 00 00 00 00 00 00', // Shift+é → 2
  '00 00 28 00 00 00 00 00', '00 00 00 00 00 00 00 00', // Enter
].map(r);

/** Access-IS HID-POS, report ID 2: `]Q1` + 70 data bytes in two reports (more-bit set on the first). */
export function accessIsTwoReports(): { reports: Buffer[]; text: string } {
  const text = 'HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOO6+IUKQGMA2VK/9WIH+PNQMEL:AJ';
  const data = Buffer.from(text, 'ascii');
  const first = Buffer.alloc(64);
  first[0] = 0x02;
  first[1] = 56;
  first.write(']Q1', 2, 'latin1');
  data.copy(first, 5, 0, 56);
  first[61] = 0x73; // further symbology id (QR, Honeywell code)
  first[63] = 0x01; // more reports follow
  const second = Buffer.alloc(64);
  second[0] = 0x02;
  second[1] = data.length - 56;
  second.write(']Q1', 2, 'latin1');
  data.copy(second, 5, 56);
  second[61] = 0x73;
  return { reports: [first, second], text };
}
