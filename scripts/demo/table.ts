/** The demo's output: one table row per step (result, reason, who, relay, latency, note), in colour on a terminal. */

const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint(1);
export const dim = paint(2);
const TAG: Record<string, (s: string) => string> = {
  OPEN: paint(32),
  GUARD: paint(32),
  CMD: paint(32),
  DENY: paint(31),
  ERROR: paint(35),
  STAFF: paint(33),
  ALARM: paint(33),
  OFFLINE: paint(33),
  ONLINE: paint(36),
  PASSAGE: paint(36),
};

export const say = (line = '') => process.stdout.write(`${line}\n`);

/** Terminal columns of a string (CJK characters take two). */
function columns(s: string): number {
  let n = 0;
  for (const ch of s) n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return n;
}
export const pad = (s: string, width: number) => s + ' '.repeat(Math.max(0, width - columns(s)));

/** A duration as the table shows it. */
export const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`);

export interface Row {
  tag: string;
  reason: string;
  what: string;
  relay: string;
  latency: string;
  note?: string;
}

/** Numbered rows under one header. */
export class Table {
  private stepNo = 0;

  header(): void {
    say(dim(`  #  ${pad('result', 7)} ${pad('reason', 18)} ${pad('who / what', 40)} ${pad('relay', 13)} ${'latency'.padStart(8)}  note`));
  }

  row(r: Row): void {
    const tag = (TAG[r.tag] ?? ((s: string) => s))(pad(r.tag, 7));
    say(`${String(++this.stepNo).padStart(3)}  ${tag} ${pad(r.reason, 18)} ${pad(r.what, 40)} ${pad(r.relay, 13)} ${r.latency.padStart(8)}  ${r.note ?? ''}`.trimEnd());
  }
}
