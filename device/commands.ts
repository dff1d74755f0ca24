/**
 * Signed commands (§7) as the gate takes them. A command whose envelope does not verify leaves no
 * trace but its refusal code (nothing in it can be trusted, and a flood of them must not push real
 * events out of the outbox); one that verifies is recorded as an event — run or refused — before
 * anything acts on it.
 */
import { isPassgateError, type ErrorCode } from './core/errors.js';
import type { Clock } from './core/ports.js';
import { commandFields, type Command } from './core/command.js';
import type { GateStore } from './store/store.js';
import { acceptCommand, verifyCommandEnvelope, type VerifiedCommand } from './ingest.js';
import { baseEvent, type CommandEvent } from './events.js';

export interface CommandReply {
  jti: string | null;
  ok: boolean;
  error?: string;
}

export type CommandTaken =
  /** The envelope did not verify: no event, no reply; only the code may be counted and logged. */
  | { verified: false; code: ErrorCode }
  /** The envelope verified: recorded as event `seq` (the last one, when a run failed) and answered with `reply`. */
  | { verified: true; reply: CommandReply; seq: number };

/**
 * Runs a verified command whose acceptance is already recorded as event `seq` (so a remote open is
 * on record before the relay moves); throws PassgateError when it cannot be carried out.
 */
export type CommandRunner = (command: Command, seq: number) => Promise<void> | void;

const codeOf = (e: unknown): ErrorCode => (isPassgateError(e) ? e.code : 'INTERNAL');

export async function takeCommand(text: string, store: GateStore, clock: Clock, run: CommandRunner): Promise<CommandTaken> {
  let verified: VerifiedCommand;
  try {
    verified = verifyCommandEnvelope(text, store);
  } catch (e) {
    return { verified: false, code: codeOf(e) };
  }
  const record = (fields: Pick<CommandEvent, 'cmd' | 'actor' | 'jti'>, reply: CommandReply) => {
    const event: CommandEvent = { ...baseEvent('command', clock), ...fields, ok: reply.ok, ...(reply.error ? { error: reply.error } : {}) };
    return store.recordEvent(event, clock.nowMs());
  };

  let command: Command;
  try {
    command = acceptCommand(verified, store, clock);
  } catch (e) {
    // Signed by a commands key but refused (wrong audience, expired, replayed, bad payload): on
    // record with what of it has the right shape.
    const fields = commandFields(verified.payload);
    const reply: CommandReply = { jti: fields.jti, ok: false, error: codeOf(e) };
    return { verified: true, reply, seq: record(fields, reply) };
  }
  const fields = { cmd: command.cmd, actor: command.actor, jti: command.jti };
  const accepted: CommandReply = { jti: command.jti, ok: true };
  const seq = record(fields, accepted);
  try {
    await run(command, seq);
    return { verified: true, reply: accepted, seq };
  } catch (e) {
    // Accepted but not carried out (e.g. the gate was busy): that too goes on record.
    const reply: CommandReply = { jti: command.jti, ok: false, error: codeOf(e) };
    return { verified: true, reply, seq: record(fields, reply) };
  }
}
