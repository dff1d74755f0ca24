/**
 * The `set-mode` override (§7 commands): a local, expiring change to what the gate does with its
 * decisions. Every presentation is still verified, decided and recorded in full; the mode then
 * replaces the result, and the decision says so (`mode`), keeping its own reason.
 */
import type { Decision } from './types.js';

export const MODES = ['open', 'deny', 'staff'] as const;
export type Mode = (typeof MODES)[number];

export interface ModeOverride {
  /** `open` free passage (an event, an evacuation), `deny` lock-down, `staff` every pass held for a guard. */
  mode: Mode;
  untilMs: number;
  setAtMs: number;
  actor: string;
  jti: string;
}

/**
 * `open` lets through what would have been denied or held; `deny` refuses what would have opened or
 * been held; `staff` holds what would have opened. A gate failure (`error`) is never overridden.
 */
export function applyMode(decision: Decision, override: ModeOverride | null): Decision {
  if (!override || decision.result === 'error') return decision;
  const { mode } = override;
  const changes = mode === 'open' ? decision.result !== 'open' : mode === 'deny' ? decision.result !== 'deny' : decision.result === 'open';
  if (!changes) return decision;
  return { ...decision, result: mode, mode, detail: `mode ${mode} set by ${override.actor}${decision.detail ? `; ${decision.detail}` : ''}` };
}
