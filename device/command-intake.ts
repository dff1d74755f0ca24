/**
 * Signed commands (§7) as the gate takes them. A command whose envelope does not verify leaves no
 * trace but its refusal code (nothing in it can be trusted, and a flood of them must not push real
 * events out of the outbox); one that verifies is recorded as an event — run or refused — before
 * anything acts on it. What each command does: createCommandRunner below. The MQTT side is
 * sync/command-channel.ts.
 */
import { PassgateError, isPassgateError, type ErrorCode } from '../base/errors.js';
import type { Clock } from './core/ports.js';
import { MODES, type Mode } from './core/mode.js';
import { commandFields, type Command } from './core/signed-command.js';
import type { GateStore } from './store/store.js';
import type { ModeOverrides } from './modes.js';
import { acceptCommand, verifyCommandEnvelope, type VerifiedCommand } from './ingest.js';
import type { CommandEvent, EventRecorder } from './events.js';

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

/** What taking a command needs: the store (keys, counters), the clock, the gate's event recorder. */
export interface CommandIntake {
  store: GateStore;
  clock: Clock;
  recorder: Pick<EventRecorder, 'record'>;
}

export async function takeCommand(text: string, intake: CommandIntake, run: CommandRunner): Promise<CommandTaken> {
  const { store, clock, recorder } = intake;
  let verified: VerifiedCommand;
  try {
    verified = verifyCommandEnvelope(text, store);
  } catch (e) {
    return { verified: false, code: codeOf(e) };
  }
  const record = (fields: Pick<CommandEvent, 'cmd' | 'actor' | 'jti'>, reply: CommandReply) =>
    recorder.record({ type: 'command', ...fields, ok: reply.ok, ...(reply.error ? { error: reply.error } : {}) });

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

// --- what each command does ---------------------------------------------------------------------------

export interface CommandParts {
  /** Pulses the relay once for `ms` (the policy's pulseMs when none is named); `seq` is the recorded command event. */
  pulse(ms: number | undefined, seq: number): Promise<void> | void;
  /** Resyncs both lists (GateLink.resync). */
  resync(): void;
  /** Re-reads trust and policy (GateLink tells the bus `documentsChanged`; the verifier reloads). */
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
