/** Signed commands (§7) as the gate takes them: verified, counted, run — and always recorded as an event. */
import { PassgateError, isPassgateError } from './core/errors.js';
import type { Clock } from './core/ports.js';
import type { Command } from './core/command.js';
import type { GateStore } from './store/store.js';
import { ingestEnvelope } from './ingest.js';
import { baseEvent } from './events.js';

export interface CommandReply {
  jti: string | null;
  ok: boolean;
  error?: string;
}

/** Runs a verified command; throws PassgateError to refuse it. */
export type CommandRunner = (command: Command) => Promise<void> | void;

export async function takeCommand(text: string, store: GateStore, clock: Clock, run: CommandRunner): Promise<CommandReply> {
  let command: Command | null = null;
  let reply: CommandReply;
  try {
    const ingested = ingestEnvelope(text, store, clock, 'passgate-cmd+json');
    if (ingested.typ !== 'passgate-cmd+json') throw new PassgateError('WRONG_TYPE', 'not a command');
    command = ingested.command;
    await run(command);
    reply = { jti: command.jti, ok: true };
  } catch (e) {
    reply = { jti: command?.jti ?? jtiOf(text), ok: false, error: isPassgateError(e) ? e.code : 'INTERNAL' };
  }
  store.recordEvent(
    {
      ...baseEvent('command', clock),
      cmd: command?.cmd ?? null,
      jti: reply.jti,
      actor: command?.actor ?? null,
      ok: reply.ok,
      ...(reply.error ? { error: reply.error } : {}),
    },
    clock.nowMs(),
  );
  return reply;
}

/** The jti of a refused command, if its payload can be read at all (for the reply only). */
function jtiOf(text: string): string | null {
  try {
    const payload = JSON.parse(Buffer.from(JSON.parse(text).payload, 'base64url').toString('utf8'));
    return typeof payload.jti === 'string' ? payload.jti.slice(0, 64) : null;
  } catch {
    return null;
  }
}
