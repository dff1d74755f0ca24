/**
 * The backend's commands (§7): signed with the federation's command signer for `<site>/<gate>`, with a
 * counter that only rises (kept in the backend's store), and their `R/cmd/res` replies matched by jti.
 */
import { randomUUID } from 'node:crypto';
import { audienceOf } from '../../device/core/ack.js';
import type { Command, CommandName } from '../../device/core/command.js';
import type { CommandResult } from '../../sync/contract.js';
import { signEnvelope, type SigningKey } from '../lib/issuer.js';
import type { BackendStore } from './store.js';

export interface SignCommandOptions {
  args?: Record<string, unknown>;
  actor?: string;
  /** Lifetime, default 60 s. */
  ttlSeconds?: number;
  /** Overrides for negative tests. */
  aud?: string;
  iat?: number;
  exp?: number;
  ctr?: number;
  jti?: string;
}

export interface SignedCommand {
  gate: string;
  text: string;
  jti: string;
  ctr: number;
  ttlSeconds: number;
}

interface PendingReply {
  resolve(r: CommandResult): void;
  timer: NodeJS.Timeout;
}

export class CommandDesk {
  private readonly replies = new Map<string, PendingReply>();
  private readonly results = new Map<string, CommandResult>();

  constructor(
    private readonly store: BackendStore,
    private readonly site: string,
    private readonly signer: SigningKey,
    private readonly nowMs: () => number,
  ) {}

  /** Signs a command for `gate` with the next counter; does not send it. */
  sign(gate: string, cmd: CommandName, o: SignCommandOptions = {}): SignedCommand {
    const ctr = o.ctr ?? this.store.nextCounter();
    const iat = o.iat ?? Math.floor(this.nowMs() / 1000);
    const ttlSeconds = o.ttlSeconds ?? 60;
    const jti = o.jti ?? randomUUID();
    const payload: Command = {
      aud: o.aud ?? audienceOf({ site: this.site, gate }),
      cmd,
      ...(o.args ? { args: o.args } : {}),
      actor: o.actor ?? 'ops:reference-backend',
      iat,
      exp: o.exp ?? iat + ttlSeconds,
      jti,
      ctr,
    };
    return { gate, text: signEnvelope(this.signer, 'passgate-cmd+json', payload), jti, ctr, ttlSeconds };
  }

  /** The reply to `c`, once it comes (rejects after `timeoutMs`). Register before sending. */
  awaitReply(c: SignedCommand, timeoutMs: number): Promise<CommandResult> {
    const reply = new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(c.jti);
        reject(new Error(`no reply to command ${c.jti} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.replies.set(c.jti, { resolve, timer });
    });
    reply.catch(() => {});
    return reply;
  }

  /** `R/cmd/res` arrived. */
  replied(r: CommandResult): void {
    if (!r.jti) return;
    this.results.set(r.jti, r);
    const p = this.replies.get(r.jti);
    if (!p) return;
    clearTimeout(p.timer);
    this.replies.delete(r.jti);
    p.resolve(r);
  }

  /** The last reply received for a jti, if any. */
  result(jti: string): CommandResult | undefined {
    return this.results.get(jti);
  }

  /** Forgets replies still awaited (their promises then time out never: the timers are cleared). */
  close(): void {
    for (const p of this.replies.values()) clearTimeout(p.timer);
    this.replies.clear();
  }
}
