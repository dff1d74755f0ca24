/** Counts refused messages per stable code and per topic kind, for logs, R/status and tests. */
import { parseTopic } from './topics.js';

export interface Refusal {
  code: string;
  topic: string;
  atMs: number;
  /** For the log line; never text from a message that did not verify. */
  detail: string;
}

export class RefusalCounter {
  private readonly counts = new Map<string, number>();
  private readonly kinds = new Map<string, number>();
  private lastRefusal: Refusal | null = null;

  constructor(private readonly onChange: () => void = () => {}) {}

  /** Hear every refusal as it happens (metrics). */
  readonly listeners = new Set<(r: Refusal) => void>();

  add(r: Refusal): void {
    this.counts.set(r.code, (this.counts.get(r.code) ?? 0) + 1);
    const kind = kindOf(r.topic);
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    this.lastRefusal = r;
    for (const l of this.listeners) l(r);
    this.onChange();
  }

  /** `{code: count}`, codes sorted. */
  byCode(): Record<string, number> {
    return sorted(this.counts);
  }

  /** `{kind: count}` (`cmd`, `events/ack`, `trust`, `lists`, …), kinds sorted. */
  byKind(): Record<string, number> {
    return sorted(this.kinds);
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  last(): Refusal | null {
    return this.lastRefusal;
  }
}

function kindOf(topic: string): string {
  const t = parseTopic(topic);
  if (!t) return 'other';
  return t.kind === 'list' ? 'lists' : t.kind;
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}
