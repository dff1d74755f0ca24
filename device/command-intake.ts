/**
 * Signed commands (§7) as the gate takes them: verified, counted, run — and always recorded as an
 * event — and what each command means (createCommandRunner). The MQTT side is sync/command-channel.ts.
 */
import { PassgateError, isPassgateError } from './core/errors.js';
import type { Clock } from './core/ports.js';
import { MODES, type Mode } from './core/mode.js';
import type { Command } from './core/signed-command.js';
import type { GateStore } from './store/store.js';
import type { ModeOverrides } from './modes.js';
import { ingestEnvelope } from './ingest.js';
import type { EventRecorder } from './events.js';

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

/** What taking a command needs: the store (keys, counters), the clock, the gate's event recorder. */
export interface CommandIntake {
  store: GateStore;
  clock: Clock;
  recorder: Pick<EventRecorder, 'record'>;
}

export async function takeCommand(text: string, intake: CommandIntake, run: CommandRunner): Promise<CommandReply> {
  const { store, clock, recorder } = intake;
  const record = (command: Command | null, reply: CommandReply) =>
    recorder.record({
      type: 'command',
      cmd: command?.cmd ?? null,
      jti: reply.jti,
      actor: command?.actor ?? null,
      ok: reply.ok,
      ...(reply.error ? { error: reply.error } : {}),
    });
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
