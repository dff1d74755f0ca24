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

/**
 * Runs a verified command whose acceptance is already recorded as event `seq` (so a remote open is
 * on record before the relay moves); throws PassgateError when it cannot be carried out.
 */
export type CommandRunner = (command: Command, seq: number) => Promise<void> | void;

export async function takeCommand(text: string, store: GateStore, clock: Clock, run: CommandRunner): Promise<CommandReply> {
  const record = (command: Command | null, reply: CommandReply) =>
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
  const failure = (e: unknown, jti: string | null): CommandReply => ({ jti, ok: false, error: isPassgateError(e) ? e.code : 'INTERNAL' });

  let command: Command;
  try {
    const ingested = ingestEnvelope(text, store, clock, 'passgate-cmd+json');
    if (ingested.typ !== 'passgate-cmd+json') throw new PassgateError('WRONG_TYPE', 'not a command');
    command = ingested.command;
  } catch (e) {
    const reply = failure(e, jtiOf(text));
    record(null, reply);
    return reply;
  }
  const accepted: CommandReply = { jti: command.jti, ok: true };
  const seq = record(command, accepted);
  try {
    await run(command, seq);
    return accepted;
  } catch (e) {
    // Accepted but not carried out (e.g. the gate was busy): that too goes on record.
    const reply = failure(e, command.jti);
    record(command, reply);
    return reply;
  }
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
