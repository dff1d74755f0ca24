/**
 * The console's sign-in state, kept in memory (a restart signs every guard out): sessions with an
 * idle expiry, and the lock-out that slows down password guessing. No I/O; time comes from `now`.
 *
 * Lock-out: after 5 failed sign-ins for one account, or from one client address, that account or
 * client is locked for 30 s, doubling with each further failure (at most 15 min). A success clears
 * the account's and the client's count. Both tables are bounded, so a flood of made-up names cannot
 * grow memory.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  id: string;
  guard: string;
  csrf: string;
  createdMs: number;
  lastSeenMs: number;
  /** A kiosk session (the gate's own screen) does not idle out. */
  kiosk: boolean;
}

export const MAX_FAILURES = 5;
const FIRST_LOCK_MS = 30_000;
const MAX_LOCK_MS = 15 * 60_000;
const MAX_SESSIONS = 64;
const MAX_TRACKED = 4096;

export class SessionBook {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly idleMs: number,
    private readonly now: () => number,
  ) {}

  open(guard: string, kiosk = false): Session {
    this.sweep();
    // Bounded: the least recently used session goes first.
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.sessions.values()].sort((a, b) => a.lastSeenMs - b.lastSeenMs)[0]!;
      this.sessions.delete(oldest.id);
    }
    const t = this.now();
    const s: Session = { id: randomBytes(32).toString('base64url'), guard, csrf: randomBytes(24).toString('base64url'), createdMs: t, lastSeenMs: t, kiosk };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session for a cookie value; `touch` (a guard's own request) renews its idle time. */
  find(id: string | undefined, touch: boolean): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const t = this.now();
    if (!s.kiosk && t - s.lastSeenMs > this.idleMs) {
      this.sessions.delete(id);
      return null;
    }
    if (touch) s.lastSeenMs = t;
    return s;
  }

  close(id: string): void {
    this.sessions.delete(id);
  }

  /** Signs out every session of a guard (the account was removed). */
  closeGuard(guard: string): void {
    for (const [id, s] of this.sessions) if (s.guard === guard) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) if (!s.kiosk && t - s.lastSeenMs > this.idleMs) this.sessions.delete(id);
  }
}

export function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface Failures {
  count: number;
  lockedUntil: number;
  lastMs: number;
}

export class Lockout {
  private readonly table = new Map<string, Failures>();

  constructor(private readonly now: () => number) {}

  /** Ms until `account` or `client` may try again; 0 when neither is locked. */
  lockedFor(account: string, client: string): number {
    const t = this.now();
    const left = (k: string) => Math.max(0, (this.table.get(k)?.lockedUntil ?? 0) - t);
    return Math.max(left(`a:${account}`), left(`c:${client}`));
  }

  /** Counts a failed sign-in; returns the lock (ms) it caused, 0 if none yet. */
  failed(account: string, client: string): number {
    return Math.max(this.bump(`a:${account}`), this.bump(`c:${client}`));
  }

  succeeded(account: string, client: string): void {
    this.table.delete(`a:${account}`);
    this.table.delete(`c:${client}`);
  }

  private bump(key: string): number {
    const t = this.now();
    const f = this.table.get(key) ?? { count: 0, lockedUntil: 0, lastMs: t };
    // Failures long past (a day) are forgotten.
    if (t - f.lastMs > 86_400_000) f.count = 0;
    f.count++;
    f.lastMs = t;
    let lock = 0;
    if (f.count >= MAX_FAILURES) {
      lock = Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 2 ** (f.count - MAX_FAILURES));
      f.lockedUntil = t + lock;
    }
    this.table.delete(key);
    this.table.set(key, f); // re-inserted: the Map's order is least recently failed first
    while (this.table.size > MAX_TRACKED) this.table.delete(this.table.keys().next().value!);
    return lock;
  }
}
