/**
 * GateService: the gate's running loop. It takes parts that are already built (store, clock,
 * verifier, the gate controller, input drivers, inputs, an optional link, a logger; app/compose.ts
 * builds them) and wires them:
 *
 *   scanner/reader ─scan─▶ verifier.verify() ─(event committed)─▶ gate controller ─▶ relay, indicator
 *   passage input ─────────────────────────────────────────────────▶ gate controller
 *   fire alarm input ──────────────────────────────────────────────▶ gate controller
 *   guard console ─approve/deny─▶ gate controller (override committed first) ─▶ relay
 *
 * The relay is forced to its safe level when the controller is constructed, on stop(), and by
 * releaseNow() (app/main.ts calls it from its uncaught-exception handler: the class installs no
 * process handlers). A failing part is logged and shows in health(); it never brings the service
 * down. With a bus, a change in a part's health is told as `healthChanged` within a second.
 */
import { moduleLogger, type Logger } from '../base/log.js';
import type { GateStore } from './store/store.js';
import type { EventBus } from './bus.js';
import { EventRecorder } from './events.js';
import type { Clock } from './core/ports.js';
import type { Presented } from './core/types.js';
import type { Verifier } from './verifier.js';
import { gateStatus } from './status.js';
import type { GateController, RelayPort } from './gate/controller.js';
import type { ConsoleGate, ConsoleStatus, GuardConsole } from './gate/guard-console.js';
import type { Outcome } from './gate/machine.js';

/** How a part reports health: the drivers' DriverHealth (`state`) or a plain `{ ok }`. */
export type HealthReport = { ok: boolean; detail?: string } | { state: 'connected' | 'reconnecting' | 'stopped'; lastError?: string };

/** Anything that emits `scan` with a Presented: the scanner, ID-reader and camera drivers. */
export interface ScanSource {
  readonly name?: string;
  on(event: 'scan', listener: (scan: Presented, meta?: unknown) => void): unknown;
  off?(event: 'scan', listener: (scan: Presented, meta?: unknown) => void): unknown;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
  health?(): HealthReport;
}

/** A digital input (passage sensor, fire alarm contact): `change` with the LOGICAL level (activeLow applied). */
export interface DigitalInputPort {
  on(event: 'change', listener: (active: boolean) => void): unknown;
  off?(event: 'change', listener: (active: boolean) => void): unknown;
  /** The current logical level, read once at start (an alarm that is already on must count). */
  read?(): boolean | Promise<boolean>;
  health?(): HealthReport;
}

export interface LinkPort {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  health?(): HealthReport;
}

/** The one Logger (base/log.ts). */
export type ServiceLogger = Logger;

export interface GateServiceOptions {
  store: GateStore;
  clock: Clock;
  verifier: Pick<Verifier, 'verify' | 'currentPolicy'>;
  /** The gate controller (it owns the relay and the indicator; built before the service, see app/compose.ts). */
  gate: GateController;
  inputs: ScanSource[];
  /** The relay the controller drives, for its driver-level health. */
  relay: RelayPort & { health?(): HealthReport };
  passage?: DigitalInputPort;
  /** Active = ALARM (the driver turns the contact's wiring, normally-closed and pull, into that). */
  fireAlarm?: DigitalInputPort;
  link?: LinkPort;
  /** The root logger: the service makes its own children (`mod`: service, guard). */
  log: ServiceLogger;
  /** Absent: no console. */
  guardConsole?: GuardConsoleSettings;
  /** Records what the service itself records (a guard's manual open); default: one on store, clock and bus. */
  recorder?: Pick<EventRecorder, 'record'>;
  /** Where `healthChanged` (checked every `healthCheckMs`, default 500 ms, while running) and `relayPulsed` are told. */
  bus?: EventBus;
  healthCheckMs?: number;
  /** Monotonic ms; default clock.monoMs(). */
  now?: () => number;
  /** A non-critical part unhealthy longer than this stops the watchdog (systemd then restarts us). Default 60 s. */
  watchdogGraceMs?: number;
}

/** The console as the service starts it (compose reads the files: TLS and kiosk token arrive as contents). */
export interface GuardConsoleSettings {
  host: string;
  port: number;
  allowedHosts?: string[];
  tls?: { cert: Buffer | string; key: Buffer | string };
  idleMinutes?: number;
  maxConnections?: number;
  kiosk?: { guard: string; token: string } | null;
  /** Named in the "create a guard account" hint. */
  dataDir?: string;
}

export interface PartHealth {
  ok: boolean;
  critical: boolean;
  detail?: string;
  /** Monotonic ms since when it has been unhealthy. */
  unhealthySince?: number;
}

export class GateService {
  readonly gate: GateController;
  private readonly log: ServiceLogger;
  private running = false;
  private stopped = false;
  private console: GuardConsole | null = null;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly unhealthySince = new Map<string, number>();
  private readonly now: () => number;
  private inFlight = 0;
  private readonly recorder: Pick<EventRecorder, 'record'>;
  private issuerNames: { version: number; names: Record<string, string>; expiresAtMs: number | null } | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private told = new Map<string, string>();

  constructor(private readonly o: GateServiceOptions) {
    this.log = child(o.log, 'service');
    this.now = o.now ?? (() => o.clock.monoMs());
    this.gate = o.gate;
    this.recorder = o.recorder ?? new EventRecorder(o.store, o.clock, o.bus);
  }

  /** Boots the gate (alarm state first), subscribes to inputs, starts drivers, console and link. */
  async start(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    const { fireAlarm, passage } = this.o;

    if (fireAlarm) {
      const onAlarm = (active: boolean) => this.safely('fire alarm input', () => this.onFireAlarm(active));
      fireAlarm.on('change', onAlarm);
      this.unsubscribe.push(() => fireAlarm.off?.('change', onAlarm));
      try {
        const level = await fireAlarm.read?.();
        if (level !== undefined) this.onFireAlarm(level);
      } catch (err) {
        this.log.error({ err }, 'could not read the fire alarm input at start');
      }
    }
    this.gate.boot();

    if (passage) {
      const onPassage = (active: boolean) =>
        this.safely('passage input', () => {
          if (active) this.gate.passage();
        });
      passage.on('change', onPassage);
      this.unsubscribe.push(() => passage.off?.('change', onPassage));
    }

    for (const [i, input] of this.o.inputs.entries()) {
      const name = input.name ?? `input${i}`;
      const onScan = (scan: Presented) => this.safely(`${name} scan`, () => void this.decideScan(scan, name));
      input.on('scan', onScan);
      this.unsubscribe.push(() => input.off?.('scan', onScan));
      // Node-style emitters throw on an unheard 'error': hear it (TypedEmitter drivers have none).
      const onError = (err: unknown) => this.log.error({ err, part: name }, 'driver error');
      (input as unknown as { on(e: string, l: (err: unknown) => void): unknown }).on('error', onError);
      this.unsubscribe.push(() => (input as unknown as { off?(e: string, l: (err: unknown) => void): unknown }).off?.('error', onError));
    }
    await Promise.all(
      this.o.inputs.map(async (input, i) => {
        try {
          await input.start?.();
        } catch (err) {
          this.log.error({ err, part: input.name ?? `input${i}` }, 'input driver failed to start');
        }
      }),
    );

    if (this.o.guardConsole) {
      const c = this.o.guardConsole;
      const { host, port } = c;
      if (!isLoopback(host) && !c.tls) this.log.warn({ host, port }, 'guard console listens beyond loopback without TLS: passwords and sessions cross the network in clear');
      try {
        // Loaded only when a console is configured: its HTTP framework is the service's largest module (~20 MiB).
        const { startGuardConsole } = await import('./gate/guard-console.js');
        this.console = await startGuardConsole({
          host,
          port,
          gate: this.consoleGate(),
          accounts: this.o.store,
          dataDir: c.dataDir ?? '/var/lib/passgate',
          ...(c.allowedHosts ? { allowedHosts: c.allowedHosts } : {}),
          ...(c.tls ? { tls: c.tls } : {}),
          ...(c.idleMinutes ? { idleMinutes: c.idleMinutes } : {}),
          ...(c.maxConnections ? { maxConnections: c.maxConnections } : {}),
          kiosk: c.kiosk ?? null,
          ...(this.o.bus ? { bus: this.o.bus } : {}),
          log: child(this.o.log, 'guard'),
        });
      } catch (err) {
        this.log.error({ err, host, port }, 'guard console could not start');
      }
    }
    if (this.o.link) {
      try {
        await this.o.link.start();
      } catch (err) {
        this.log.error({ err }, 'link failed to start');
      }
    }
    if (this.o.bus) {
      this.tellHealth();
      this.healthTimer = setInterval(() => this.safely('health check', () => this.tellHealth()), this.o.healthCheckMs ?? 500);
      this.healthTimer.unref?.();
    }
    this.log.info({ phase: this.gate.snapshot().phase, inputs: this.o.inputs.length }, 'gate service started');
  }

  /** The relay to its safe level FIRST, then everything else; idempotent, never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    try {
      this.gate.stop();
    } catch (err) {
      this.log.error({ err }, 'gate stop failed: releasing directly');
      this.gate.releaseNow();
    }
    for (const u of this.unsubscribe.splice(0)) this.safely('unsubscribe', u);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
    const settle = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        this.log.error({ err, part: what }, 'stop failed');
      }
    };
    await Promise.all([
      ...this.o.inputs.map((input, i) => settle(input.name ?? `input${i}`, () => input.stop?.())),
      settle('guard console', () => this.console?.close()),
      settle('link', () => this.o.link?.stop()),
    ]);
    this.console = null;
    this.log.info({}, 'gate service stopped');
  }

  /** Last resort for main's crash handlers: relay safe now, synchronously as far as possible. */
  releaseNow(): void {
    this.gate.releaseNow();
  }

  /** A verified `open` command whose event (seq) is already committed (for the link's command runner). */
  commandOpen(seq: number, pulseMs?: number): Outcome {
    return this.gate.command(seq, pulseMs ?? this.o.verifier.currentPolicy().pulseMs);
  }

  /** Where the guard console listens (null when it does not). */
  guardConsoleAddress(): { host: string; port: number; url: string } | null {
    return this.console ? { host: this.console.host, port: this.console.port, url: this.console.url } : null;
  }

  /** The console's connection counters (bench, metrics); null without a console. */
  guardConsoleStats() {
    return this.console?.stats() ?? null;
  }

  /**
   * A guard opens the gate by hand: the `override` event (with the guard and the reason) is
   * committed first; only then is the gate asked to pulse. Refused before recording when the gate
   * cannot open now.
   */
  manualOpen(actor: string, note: string) {
    const phase = this.gate.snapshot().phase;
    if (!this.running || phase === 'start' || phase === 'stopped') return { ok: false as const, error: 'NOT_RUNNING' as const };
    if (phase !== 'idle' && phase !== 'alarm' && this.gate.settings.busy !== 'queue') return { ok: false as const, error: 'BUSY' as const };
    let seq: number;
    try {
      seq = this.recorder.record({ type: 'override', ref: null, result: 'open', reason: 'GUARD_APPROVED', actor, input: null, format: null, issuer: null, handle: null, heldMs: 0, note, manual: true });
    } catch (err) {
      this.log.error({ err }, 'could not record a manual open: the gate stays shut');
      return { ok: false as const, error: 'NOT_RECORDED' as const };
    }
    const outcome = this.gate.command(seq, this.o.verifier.currentPolicy().pulseMs);
    if (outcome.kind === 'refused') return { ok: false as const, error: outcome.why };
    return { ok: true as const, outcome, seq };
  }

  private consoleGate(): ConsoleGate {
    return {
      holds: () => this.gate.holds(),
      decide: (id, decision, actor, note) => this.gate.decide(id, decision, actor, note),
      manualOpen: (actor, note) => this.manualOpen(actor, note),
      status: () => this.consoleStatus(),
    };
  }

  /** The console's status view, from cheap reads only (no count(*) over the lists). */
  consoleStatus(): ConsoleStatus {
    const store = this.o.store;
    const trustVersion = store.documentVersion('trust');
    if (trustVersion !== null && this.issuerNames?.version !== trustVersion) {
      const b = store.document('trust')?.payload as { expiresAt?: number; issuers?: { id: string; name: string }[] } | undefined;
      this.issuerNames = {
        version: trustVersion,
        names: Object.fromEntries((b?.issuers ?? []).map((i) => [i.id, i.name])),
        expiresAtMs: typeof b?.expiresAt === 'number' ? b.expiresAt * 1000 : null,
      };
    }
    const trust = trustVersion === null ? null : store.document('trust');
    const policyDoc = store.document('policy');
    const policy = this.o.verifier.currentPolicy();
    const bounds = store.outboxBounds();
    const identity = store.identity();
    const snap = this.gate.snapshot();
    const h = this.health();
    const link = h.parts.link;
    return {
      site: identity?.site ?? null,
      gate: identity?.gate ?? null,
      nowMs: this.o.clock.nowMs(),
      clockTrusted: this.o.clock.trusted(),
      trust: trust ? { version: trust.version, updatedAtMs: trust.updatedAtMs, expiresAtMs: this.issuerNames?.expiresAtMs ?? null, issuers: this.issuerNames?.names ?? {} } : null,
      policy: { version: policyDoc?.version ?? 0, updatedAtMs: policyDoc?.updatedAtMs ?? null, listMaxAgeSeconds: policy.listMaxAgeSeconds },
      lists: { tokens: store.meta('tokens'), holders: store.meta('holders') },
      outbox: { depth: bounds.firstSeq === null ? 0 : bounds.lastSeq - bounds.firstSeq + 1, oldestTsMs: bounds.oldestTsMs },
      broker: link === undefined ? null : link.detail === 'connected' ? 'connected' : 'offline',
      relay: snap.relay,
      alarm: snap.alarm,
      parts: Object.entries(h.parts).map(([name, p]) => ({ name, ok: p.ok, ...(p.detail ? { detail: p.detail } : {}) })),
    };
  }

  /** Health of every part; `watchdogOk` is what main's sd_notify WATCHDOG=1 depends on. */
  health(): { ok: boolean; watchdogOk: boolean; parts: Record<string, PartHealth> } {
    const now = this.now();
    const grace = this.o.watchdogGraceMs ?? 60_000;
    const parts: Record<string, PartHealth> = {};
    const add = (name: string, critical: boolean, report: HealthReport | undefined) => {
      const h = normalise(report);
      if (h.ok) this.unhealthySince.delete(name);
      else if (!this.unhealthySince.has(name)) this.unhealthySince.set(name, now);
      parts[name] = { ...h, critical, ...(h.ok ? {} : { unhealthySince: this.unhealthySince.get(name)! }) };
    };
    add('relay', true, mergeHealth(this.gate.health(), this.o.relay.health?.()));
    if (this.o.passage) add('passage', false, this.o.passage.health?.());
    if (this.o.fireAlarm) add('fireAlarm', true, this.o.fireAlarm.health?.());
    this.o.inputs.forEach((input, i) => add(input.name ?? `input${i}`, false, input.health?.()));
    if (this.o.link) add('link', false, this.o.link.health?.() ?? { ok: true });
    if (this.o.guardConsole) add('guardConsole', false, this.console ? { ok: true } : { ok: false, detail: 'not listening' });
    const all = Object.values(parts);
    const ok = this.running && all.every((p) => p.ok);
    const watchdogOk =
      this.running && all.every((p) => p.ok || (!p.critical && p.unhealthySince !== undefined && now - p.unhealthySince < grace));
    return { ok, watchdogOk, parts };
  }

  /** The technician's view: store status, gate state, parts' health. */
  status() {
    return { ...gateStatus(this.o.store, this.o.clock), gate: this.gate.snapshot(), health: this.health(), inFlight: this.inFlight };
  }

  // --- wiring ----------------------------------------------------------------------------------------

  private async decideScan(scan: Presented, source: string): Promise<void> {
    if (!this.running) return;
    this.inFlight++;
    const scannedAt = this.now();
    try {
      // verify() commits the decision's event before it returns: only then may the gate act on it.
      const verdict = await this.o.verifier.verify(scan);
      const d = verdict.decision;
      if (!this.running) {
        this.log.warn({ source, seq: verdict.seq, result: d.result }, 'decision arrived after stop: not acted on');
        return;
      }
      const outcome = this.gate.actOn({
        result: d.result,
        reason: d.reason,
        seq: verdict.seq,
        input: d.input,
        format: d.format,
        issuer: d.issuer,
        handle: d.handle,
        displayName: d.displayName,
        pulseMs: this.o.verifier.currentPolicy().pulseMs,
      });
      if (outcome.kind === 'opened' && verdict.seq !== null) this.o.bus?.emit('relayPulsed', { seq: verdict.seq, scanToRelayMs: this.now() - scannedAt });
      // Handles and codes only: never d.displayName, never the scan.
      this.log.info(
        { source, seq: verdict.seq, result: d.result, reason: d.reason, format: d.format, issuer: d.issuer, handle: d.handle, latencyUs: verdict.latencyUs, gate: outcome.kind },
        'decision',
      );
    } catch (err) {
      this.log.error({ err, source }, 'scan could not be decided');
    } finally {
      this.inFlight--;
    }
  }

  private onFireAlarm(active: boolean): void {
    if (active !== this.gate.snapshot().alarm) this.log.warn({ active }, active ? 'FIRE ALARM: gate released' : 'fire alarm cleared');
    this.gate.alarm(active);
  }

  /** `healthChanged` for each part whose health differs from what was last told. */
  private tellHealth(): void {
    for (const [part, h] of Object.entries(this.health().parts)) {
      const key = `${h.ok}:${h.detail ?? ''}`;
      if (this.told.get(part) === key) continue;
      this.told.set(part, key);
      this.o.bus!.emit('healthChanged', { part, ...h });
    }
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, part: what }, 'handler failed');
    }
  }
}

function normalise(r: HealthReport | undefined): { ok: boolean; detail?: string } {
  if (r === undefined) return { ok: true };
  if ('ok' in r) return r.detail === undefined ? { ok: r.ok } : { ok: r.ok, detail: r.detail };
  const ok = r.state === 'connected';
  return ok ? { ok } : { ok, detail: r.lastError ? `${r.state}: ${r.lastError}` : r.state };
}

function mergeHealth(a: HealthReport, b: HealthReport | undefined): HealthReport {
  const x = normalise(a);
  const y = normalise(b);
  const detail = [x.detail, y.detail].filter(Boolean).join('; ');
  return detail ? { ok: x.ok && y.ok, detail } : { ok: x.ok && y.ok };
}

function child(log: ServiceLogger, mod: string): ServiceLogger {
  return moduleLogger(log, mod);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
