/**
 * Talking to systemd: sd_notify READY/STATUS/STOPPING, and the watchdog that pings only while the
 * event loop keeps time and the gate reports its parts healthy enough.
 */
import { execFile } from 'node:child_process';

export interface WatchdogLogger {
  error(obj: object, msg?: string): void;
}

/** sd_notify through `systemd-notify --pid` (Node has no datagram Unix sockets; NotifyAccess=all). */
export function notify(...states: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, ...states], { timeout: 5000 }, () => {
    /* a missed notification shows in systemd's own log; nothing to do here */
  });
}

/**
 * WATCHDOG=1 every WATCHDOG_USEC/2, only while the event loop keeps time (the timer fired within
 * half an interval of when it should) and the service reports its parts healthy enough. Returns
 * the function that stops it; does nothing when systemd asked for no watchdog.
 */
export function startWatchdog(health: () => { watchdogOk: boolean; parts: Record<string, { ok: boolean }> }, log: WatchdogLogger): () => void {
  const usec = Number(process.env.WATCHDOG_USEC);
  const pid = process.env.WATCHDOG_PID;
  if (!process.env.NOTIFY_SOCKET || !Number.isFinite(usec) || usec <= 0 || (pid && Number(pid) !== process.pid)) return () => {};
  const intervalMs = Math.max(100, Math.floor(usec / 1000 / 2));
  let expected = performance.now() + intervalMs;
  let warned = false;
  const timer = setInterval(() => {
    const now = performance.now();
    const lagMs = now - expected;
    expected = now + intervalMs;
    const h = health();
    const loopOk = lagMs < intervalMs / 2;
    if (loopOk && h.watchdogOk) {
      notify('WATCHDOG=1');
      warned = false;
    } else if (!warned) {
      warned = true;
      const failing = Object.entries(h.parts).filter(([, p]) => !p.ok).map(([n]) => n);
      log.error({ lagMs: Math.round(lagMs), failing }, 'withholding the watchdog ping: systemd will restart the service if this persists');
    }
  }, intervalMs);
  return () => clearInterval(timer);
}
