/**
 * Signed commands over MQTT (§7): `R/cmd` → takeCommand (verify, counter, run, record an event —
 * for every command whose envelope verified, run or refused) → `R/cmd/res {"jti","ok"}` or
 * `{"jti","ok":false,"error"}`. An envelope that does not verify is counted and logged (rate-limited,
 * code only) and leaves nothing else. Commands run one at a time, in arrival order.
 *
 * What a command does is the composition root's: it passes a CommandRunner, usually built with
 * createCommandRunner() from the parts it owns (the relay, the link's resync, the verifier's reload,
 * the mode override, the process exit).
 */
import { ModeOverrides } from '../device/modes.js';
import { MODES, type Mode } from '../device/core/mode.js';
import { takeCommand, type CommandRunner } from '../device/commands.js';
import { PassgateError } from '../device/core/errors.js';
import type { Command } from '../device/core/command.js';
import type { Clock } from '../device/core/ports.js';
import type { GateStore } from '../device/store/store.js';
import type { GateTopics } from './topics.js';
import type { ContractPayloads } from './contract.js';
import type { GateConnection, MessageProps } from './connection.js';
import type { RefusalCounter } from './refusals.js';
import { RateLimitedLog, type Logger } from './log.js';

export type { CommandRunner };

export class CommandChannel {
  private chain: Promise<void> = Promise.resolve();
  /** `unverified`: envelopes that did not verify (no event, no reply). */
  readonly stats = { received: 0, ok: 0, refused: 0, unverified: 0 };
  private readonly unverifiedLog: RateLimitedLog;

  constructor(
    private readonly store: GateStore,
    private readonly clock: Clock,
    private readonly topics: GateTopics,
    private readonly conn: Pick<GateConnection, 'send' | 'connected'>,
    private readonly run: CommandRunner,
    private readonly refusals: RefusalCounter,
    private readonly log: Logger,
    private readonly onRecorded: () => void = () => {},
  ) {
    this.unverifiedLog = new RateLimitedLog(log);
  }

  /** `R/cmd` arrived. Resolves when the command ran (or was refused) and the reply was sent. */
  take(text: string, props: MessageProps = { retain: false }): Promise<void> {
    this.stats.received++;
    const next = this.chain.then(() => this.takeOne(text, props));
    this.chain = next.catch(() => {});
    return next;
  }

  /** Resolves when every command taken so far has been handled. */
  idle(): Promise<void> {
    return this.chain;
  }

  private async takeOne(text: string, props: MessageProps): Promise<void> {
    const taken = await takeCommand(text, this.store, this.clock, this.run);
    if (!taken.verified) {
      // Nothing in it is trusted (§7): no event, no reply, no jti in the log — a count and the code.
      this.stats.unverified++;
      this.refusals.add({ code: taken.code, topic: this.topics.cmd, atMs: this.clock.nowMs(), detail: 'command envelope does not verify' });
      this.unverifiedLog.warn(taken.code, { code: taken.code, unverified: this.stats.unverified }, 'command envelope does not verify: dropped');
      return;
    }
    const { reply } = taken;
    this.onRecorded();
    const result: ContractPayloads['cmd/res'] = reply.ok ? { jti: reply.jti, ok: true } : { jti: reply.jti, ok: false, error: reply.error ?? 'INTERNAL' };
    if (result.ok) {
      this.stats.ok++;
      this.log.info({ jti: reply.jti, seq: taken.seq }, 'command ran');
    } else {
      this.stats.refused++;
      this.log.warn({ jti: reply.jti, code: result.error, seq: taken.seq }, 'command refused');
      this.refusals.add({ code: result.error, topic: this.topics.cmd, atMs: this.clock.nowMs(), detail: `command ${reply.jti ?? '?'}` });
    }
    if (!this.conn.connected) {
      this.log.warn({ jti: reply.jti }, 'command reply not sent: disconnected (the command event is in the outbox)');
      return;
    }
    const properties = props.correlationData ? { correlationData: props.correlationData } : undefined;
    await this.conn.send('cmd/res', result, { qos: 1, ...(properties ? { properties } : {}) }).catch((e: Error) => {
      this.log.warn({ err: e.message, jti: reply.jti }, 'command reply not published');
    });
  }
}

// --- the runner's parts ------------------------------------------------------------------------------

export interface CommandParts {
  /** Pulses the relay once for `ms` (the policy's pulseMs when none is named); `seq` is the recorded command event. */
  pulse(ms: number | undefined, seq: number): Promise<void> | void;
  /** Resyncs both lists (GateLink.resync). */
  resync(): void;
  /** Re-reads trust and policy (verifier.reload). */
  reload(): void;
  modes: ModeOverrides;
  /** Exits for systemd to restart the service; called after `restartDelayMs` so the reply goes out first. */
  restart(): void;
  /** Default 500 ms. */
  restartDelayMs?: number;
  /** Longest `set-mode` override, default 86400 s. */
  maxModeSeconds?: number;
}

/**
 * The standard meaning of each command. `args`:
 * - `open`: `{"pulseMs"?: 50…5000}`
 * - `set-mode`: `{"mode": "open"|"deny"|"staff"|"normal", "seconds": 1…maxModeSeconds}` (`normal` clears)
 * - `sync`, `reload`, `restart`: none
 */
export function createCommandRunner(parts: CommandParts): CommandRunner {
  const maxModeSeconds = parts.maxModeSeconds ?? 86_400;
  return async (c: Command, seq: number) => {
    const args = c.args ?? {};
    switch (c.cmd) {
      case 'open': {
        const ms = args.pulseMs;
        if (ms !== undefined && (!Number.isInteger(ms) || (ms as number) < 50 || (ms as number) > 5000)) {
          throw new PassgateError('BAD_ENCODING', 'open: pulseMs must be an integer 50…5000');
        }
        await parts.pulse(ms as number | undefined, seq);
        return;
      }
      case 'sync':
        parts.resync();
        return;
      case 'reload':
        parts.reload();
        return;
      case 'set-mode': {
        const { mode, seconds } = args as { mode?: unknown; seconds?: unknown };
        if (mode === 'normal') {
          parts.modes.clear();
          return;
        }
        if (!(MODES as readonly unknown[]).includes(mode)) throw new PassgateError('BAD_ENCODING', `set-mode: mode must be ${MODES.join('|')}|normal`);
        if (!Number.isInteger(seconds) || (seconds as number) < 1 || (seconds as number) > maxModeSeconds) {
          throw new PassgateError('BAD_ENCODING', `set-mode: seconds must be an integer 1…${maxModeSeconds}`);
        }
        parts.modes.set(mode as Mode, seconds as number, { actor: c.actor, jti: c.jti });
        return;
      }
      case 'restart': {
        const t = setTimeout(() => parts.restart(), parts.restartDelayMs ?? 500);
        t.unref?.();
        return;
      }
    }
  };
}
