/** Signed commands (§7): payload validation and the checks that do not need the store. */
import { compileSchema } from './schema.js';
import { PassgateError } from '../../base/errors.js';

export const COMMANDS = ['open', 'sync', 'set-mode', 'reload', 'restart'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Command {
  /** `<site>/<gate>` (§7 revision 2: gate ids repeat across sites). */
  aud: string;
  cmd: CommandName;
  args?: Record<string, unknown>;
  actor: string;
  iat: number;
  exp: number;
  jti: string;
  ctr: number;
}

const validateCommand = compileSchema<Command>('command', {
  type: 'object',
  required: ['aud', 'cmd', 'actor', 'iat', 'exp', 'jti', 'ctr'],
  properties: {
    aud: { type: 'string', minLength: 1, maxLength: 129 },
    cmd: { enum: COMMANDS },
    args: { type: 'object' },
    actor: { type: 'string', minLength: 1, maxLength: 128 },
    iat: { type: 'integer', minimum: 0 },
    exp: { type: 'integer', minimum: 0 },
    jti: { type: 'string', minLength: 1, maxLength: 64 },
    ctr: { type: 'integer', minimum: 0 },
  },
});

/**
 * Validates the payload, `aud` (`<site>/<gate>`) and `exp` (only while the clock can be trusted); the
 * counter is the store's.
 */
export function checkCommand(payload: unknown, audience: string, nowMs: number, clockTrusted: boolean): Command {
  const cmd = validateCommand(payload);
  if (cmd.aud !== audience) throw new PassgateError('WRONG_AUDIENCE', `command for ${cmd.aud}, this is ${audience}`);
  if (clockTrusted && nowMs > cmd.exp * 1000) throw new PassgateError('EXPIRED', `command ${cmd.jti} expired`);
  return cmd;
}

/**
 * What a refused command's event and reply may carry of a payload whose envelope VERIFIED (signed by a
 * commands key) but which was refused: each field only if it has the right shape. Never used on an
 * envelope that did not verify — nothing of that may reach the store.
 */
export function commandFields(payload: unknown): { cmd: CommandName | null; actor: string | null; jti: string | null } {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  const str = (v: unknown, max: number) => (typeof v === 'string' && v.length >= 1 && v.length <= max ? v : null);
  return {
    cmd: (COMMANDS as readonly unknown[]).includes(p.cmd) ? (p.cmd as CommandName) : null,
    actor: str(p.actor, 128),
    jti: str(p.jti, 64),
  };
}

export interface LookupReply {
  id: string;
  holder: string;
  s: 0 | 1 | 2 | 3 | null;
  at: number;
}

export const parseLookupReply = compileSchema<LookupReply>('lookup answer', {
  type: 'object',
  required: ['id', 'holder', 's', 'at'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 64 },
    holder: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    s: { enum: [0, 1, 2, 3, null] },
    at: { type: 'integer', minimum: 0 },
  },
});
