/**
 * `R/status`, retained QoS 1: published on connect, soon after anything that changes it (debounced),
 * and every `intervalMs` so ages and the outbox depth stay current. The payload is built fresh at
 * each publish by the function GateLink supplies (gateStatus() plus the sync layer's counters and
 * the composition root's scanner and gate state).
 */
import type { StatusPayload } from './contract.js';
import type { GateConnection } from './connection.js';
import type { Logger } from '../base/log.js';
import { checkRange } from '../base/check.js';

export interface StatusOptions {
  /** Periodic publication, [1000…3600000], default 60000 ms. */
  intervalMs?: number;
  /** Least time between two publications on change, [0…60000], default 1000 ms. */
  minIntervalMs?: number;
}

export class StatusPublisher {
  private readonly intervalMs: number;
  private readonly minIntervalMs: number;
  private periodic: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastPublishMono = -Infinity;
  readonly stats = { published: 0 };

  constructor(
    private readonly build: () => StatusPayload,
    private readonly conn: Pick<GateConnection, 'send' | 'connected'>,
    private readonly log: Logger,
    options: StatusOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    checkRange('status.intervalMs', this.intervalMs, 1000, 3_600_000);
    checkRange('status.minIntervalMs', this.minIntervalMs, 0, 60_000);
  }

  connected(): void {
    this.publishNow();
    if (!this.periodic) {
      this.periodic = setInterval(() => this.publishNow(), this.intervalMs);
      this.periodic.unref?.();
    }
  }

  disconnected(): void {
    this.clearTimers();
  }

  stop(): void {
    this.clearTimers();
  }

  /** Something R/status shows changed: publish soon (at most once per minIntervalMs). */
  changed(): void {
    if (!this.conn.connected || this.debounce) return;
    const wait = Math.max(0, this.lastPublishMono + this.minIntervalMs - performance.now());
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.publishNow();
    }, wait);
    this.debounce.unref?.();
  }

  /** Publishes the current status now; resolves when the broker has it (or at once when offline). */
  publishNow(): Promise<void> {
    if (!this.conn.connected) return Promise.resolve();
    let payload: StatusPayload;
    try {
      payload = this.build();
    } catch (e) {
      this.log.error({ err: e }, 'could not build the status');
      return Promise.resolve();
    }
    this.lastPublishMono = performance.now();
    this.stats.published++;
    return this.conn.send('status', payload, { qos: 1, retain: true }).catch((e: Error) => {
      this.log.debug({ err: e.message }, 'status not published');
    });
  }

  private clearTimers(): void {
    if (this.periodic) clearInterval(this.periodic);
    if (this.debounce) clearTimeout(this.debounce);
    this.periodic = null;
    this.debounce = null;
  }
}
