/**
 * Signed commands over MQTT (§7): `R/cmd` → takeCommand (verify, counter, record an event, run —
 * for every command, run or refused) → `R/cmd/res {"jti","ok"}` or `{"jti","ok":false,"error"}`.
 * Commands run one at a time, in arrival order. What a command does is the CommandRunner's
 * (device/command-intake.ts).
 */
import { takeCommand, type CommandIntake, type CommandRunner } from '../device/command-intake.js';
import { encode, type CommandResult, type GateTopics } from './topics.js';
import type { GateConnection, MessageProps } from './connection.js';
import type { RefusalCounter } from './refusals.js';
import type { Logger } from './log.js';

export type { CommandRunner };

export class CommandChannel {
  private chain: Promise<void> = Promise.resolve();
  readonly stats = { received: 0, ok: 0, refused: 0 };

  constructor(
    private readonly intake: CommandIntake,
    private readonly topics: GateTopics,
    private readonly conn: Pick<GateConnection, 'publish' | 'connected'>,
    private readonly run: CommandRunner,
    private readonly refusals: RefusalCounter,
    private readonly log: Logger,
  ) {}

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
    const reply = await takeCommand(text, this.intake, this.run);
    const result: CommandResult = reply.ok ? { jti: reply.jti, ok: true } : { jti: reply.jti, ok: false, error: reply.error ?? 'INTERNAL' };
    if (result.ok) {
      this.stats.ok++;
      this.log.info({ jti: reply.jti }, 'command ran');
    } else {
      this.stats.refused++;
      this.log.warn({ jti: reply.jti, code: result.error }, 'command refused');
      this.refusals.add({ code: result.error, topic: this.topics.cmd, atMs: this.intake.clock.nowMs(), detail: `command ${reply.jti ?? '?'}` });
    }
    if (!this.conn.connected) {
      this.log.warn({ jti: reply.jti }, 'command reply not sent: disconnected (the command event is in the outbox)');
      return;
    }
    const properties = props.correlationData ? { correlationData: props.correlationData } : undefined;
    await this.conn.publish(this.topics.cmdRes, encode(result), { qos: 1, ...(properties ? { properties } : {}) }).catch((e: Error) => {
      this.log.warn({ err: e.message, jti: reply.jti }, 'command reply not published');
    });
  }
}
