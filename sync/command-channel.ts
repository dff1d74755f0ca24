/**
 * Signed commands over MQTT (§7): `R/cmd` → takeCommand (verify, counter, run, record an event —
 * for every command whose envelope verified, run or refused) → `R/cmd/res {"jti","ok"}` or
 * `{"jti","ok":false,"error"}`. An envelope that does not verify is counted and logged (rate-limited,
 * code only) and leaves nothing else. Commands run one at a time, in arrival order.
 * What a command does is the CommandRunner's (device/command-intake.ts).
 */
import { takeCommand, type CommandIntake, type CommandRunner } from '../device/command-intake.js';
import type { GateTopics } from './topics.js';
import type { ContractPayloads } from './contract.js';
import type { GateConnection, MessageProps } from './connection.js';
import type { RefusalCounter } from './refusals.js';
import { RateLimitedLog, type Logger } from '../base/log.js';

export type { CommandRunner };

export class CommandChannel {
  private chain: Promise<void> = Promise.resolve();
  /** `unverified`: envelopes that did not verify (no event, no reply). */
  readonly stats = { received: 0, ok: 0, refused: 0, unverified: 0 };
  private readonly unverifiedLog: RateLimitedLog;

  constructor(
    private readonly intake: CommandIntake,
    private readonly topics: GateTopics,
    private readonly conn: Pick<GateConnection, 'send' | 'connected'>,
    private readonly run: CommandRunner,
    private readonly refusals: RefusalCounter,
    private readonly log: Logger,
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
    const taken = await takeCommand(text, this.intake, this.run);
    if (!taken.verified) {
      // Nothing in it is trusted (§7): no event, no reply, no jti in the log — a count and the code.
      this.stats.unverified++;
      this.refusals.add({ code: taken.code, topic: this.topics.cmd, atMs: this.intake.clock.nowMs(), detail: 'command envelope does not verify' });
      this.unverifiedLog.warn(taken.code, { code: taken.code, unverified: this.stats.unverified }, 'command envelope does not verify: dropped');
      return;
    }
    const { reply } = taken;
    const result: ContractPayloads['cmd/res'] = reply.ok ? { jti: reply.jti, ok: true } : { jti: reply.jti, ok: false, error: reply.error ?? 'INTERNAL' };
    if (result.ok) {
      this.stats.ok++;
      this.log.info({ jti: reply.jti, seq: taken.seq }, 'command ran');
    } else {
      this.stats.refused++;
      this.log.warn({ jti: reply.jti, code: result.error, seq: taken.seq }, 'command refused');
      this.refusals.add({ code: result.error, topic: this.topics.cmd, atMs: this.intake.clock.nowMs(), detail: `command ${reply.jti ?? '?'}` });
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
