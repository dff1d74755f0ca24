/** Counts refused messages per stable code, for logs, R/status and tests. */
export interface Refusal {
  code: string;
  topic: string;
  atMs: number;
  detail: string;
}

export class RefusalCounter {
  private readonly counts = new Map<string, number>();
  private lastRefusal: Refusal | null = null;

  constructor(private readonly onChange: () => void = () => {}) {}

  /** Hear every refusal as it happens (metrics). */
  readonly listeners = new Set<(r: Refusal) => void>();

  add(r: Refusal): void {
    this.counts.set(r.code, (this.counts.get(r.code) ?? 0) + 1);
    this.lastRefusal = r;
    for (const l of this.listeners) l(r);
    this.onChange();
  }

  /** `{code: count}`, codes sorted. */
  byCode(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
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
