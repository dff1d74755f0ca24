/** The `set-mode` override in force, kept in the store so it survives restarts and every process sees it. */
import type { Clock } from './core/ports.js';
import type { Mode, ModeOverride } from './core/mode.js';
import type { GateStore } from './store/store.js';

const MODE_KEY = 'mode-override';

export class ModeOverrides {
  constructor(
    private readonly store: GateStore,
    private readonly clock: Clock,
  ) {}

  /** The override in force, or null (none, or expired). */
  current(): ModeOverride | null {
    const o = this.store.setting(MODE_KEY) as ModeOverride | null | undefined;
    return o && o.untilMs > this.clock.nowMs() ? o : null;
  }

  /** Puts `mode` in force for `seconds` from now. */
  set(mode: Mode, seconds: number, by: { actor: string; jti: string }): ModeOverride {
    const now = this.clock.nowMs();
    const o: ModeOverride = { mode, untilMs: now + seconds * 1000, setAtMs: now, actor: by.actor, jti: by.jti };
    this.store.saveSetting(MODE_KEY, o);
    return o;
  }

  clear(): void {
    this.store.saveSetting(MODE_KEY, null);
  }
}
