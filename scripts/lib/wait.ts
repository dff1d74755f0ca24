/** The one "wait until" of the tests, the benchmarks and the tools (tests take it from test/helpers/wait.ts). */
export interface WaitOptions {
  /** Named in the timeout error: what was awaited. */
  what: string;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Default 20 ms. */
  intervalMs?: number;
}

/** Polls `fn` until it returns a truthy value, and returns that value; rejects naming `what` on timeout. */
export async function waitFor<T>(fn: () => T | null | undefined | false | 0 | '' | Promise<T | null | undefined | false | 0 | ''>, o: WaitOptions): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.what}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 20));
  }
}
