/** Signed commands (§7): payload validation and the checks that do not need the store. */
import { compileSchema } from './schema.js';
import { PassgateError } from './errors.js';

export const COMMANDS = ['open', 'sync', 'set-mode', 'reload', 'restart'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface Command {
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
    aud: { type: 'string', minLength: 1, maxLength: 64 },
    cmd: { enum: COMMANDS },
    args: { type: 'object' },
    actor: { type: 'string', minLength: 1, maxLength: 128 },
    iat: { type: 'integer', minimum: 0 },
    exp: { type: 'integer', minimum: 0 },
    jti: { type: 'string', minLength: 1, maxLength: 64 },
    ctr: { type: 'integer', minimum: 0 },
  },
});

/** Validates the payload, `aud` and `exp` (only while the clock can be trusted); the counter is the store's. */
export function checkCommand(payload: unknown, gate: string, nowMs: number, clockTrusted: boolean): Command {
  const cmd = validateCommand(payload);
  if (cmd.aud !== gate) throw new PassgateError('WRONG_AUDIENCE', `command for ${cmd.aud}, this is ${gate}`);
  if (clockTrusted && nowMs > cmd.exp * 1000) throw new PassgateError('EXPIRED', `command ${cmd.jti} expired`);
  return cmd;
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
