#!/usr/bin/env node
/**
 * The gate service's entry: `node dist/device/main.js --config /etc/passgate/config.json`.
 *
 * Reads and validates the config (refuses to start on a bad one, exit 78), opens the store (refuses
 * on a data directory that `passgate init` never provisioned, exit 78), builds the real or simulated
 * drivers the config names, composes GateService (and the MQTT GateLink when `mqtt` is set), and
 * talks to systemd: READY=1 once started, WATCHDOG=1 at half WATCHDOG_USEC only while the event loop
 * and the parts are healthy, STOPPING=1 on the way out. SIGTERM/SIGINT stop gracefully (relay safe
 * first); an uncaught exception releases the relay at once and exits 70 for systemd to restart us.
 */
import { Command } from 'commander';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config, type GpioConfig } from './config.js';
import { createLogger, moduleLogger, type RootLogger as Logger } from './log.js';
import { DB_FILE, GateStore } from './store/store.js';
import { clockFromConfig } from './clock-trust.js';
import type { Clock } from './core/ports.js';
import { NO_LOOKUP, Verifier } from './verifier.js';
import { PassgateError, isPassgateError } from './core/errors.js';
import { GateService, type DigitalInputPort, type GateServiceOptions, type GuardConsoleSettings, type HealthReport, type LinkPort, type ScanSource } from './service.js';
import type { IndicatorPort, RelayPort } from './gate/controller.js';
import { indicatorPort, inputPort } from './gate/gpio.js';
import { HARD_MAX_PULSE_MS } from './gate/machine.js';
import { Relay } from '../drivers/gpio/relay.js';
import { loadSystemSerialBinding } from '../drivers/serial/binding.js';
import { SerialScanner, SimulatedScanner } from '../drivers/serial-scanner/index.js';
import { IdCardReader, SimulatedIdCardReader } from '../drivers/idcard/index.js';
import { HidScanner, NodeHidTransport } from '../drivers/hid-scanner/index.js';
import {
  Indicator,
  MemoryGpio,
  SysfsGpio,
  openFireAlarmInput,
  openPassageSensor,
  type Channel,
  type GpioChip,
  type IndicatorChannelConfig,
} from '../drivers/gpio/index.js';
import { GateLink } from '../sync/gate-link.js';
import { EventBus } from './bus.js';
// The composition root is moving to app/; until then the gate is assembled here.
import { linkToBus, startMetrics } from '../app/metrics.js';
import { createCommandRunner, type CommandRunner } from '../sync/commands.js';

export const EXIT_CONFIG = 78; // EX_CONFIG: the unit's RestartPreventExitStatus
export const EXIT_SOFTWARE = 70; // EX_SOFTWARE: crash, systemd restarts us

/** What main needs from a GPIO part besides the gate ports: closing the line. */
export interface Closable {
  close?(): void | Promise<void>;
}
export interface GpioParts {
  relay: RelayPort & Closable & { health?(): HealthReport };
  passage?: DigitalInputPort & Closable;
  fireAlarm?: DigitalInputPort & Closable;
  indicator?: IndicatorPort & Closable;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = new Command('passgate-service')
    .description('the passgate gate service')
    .requiredOption('--config <file>', 'the gate configuration file (JSON); see docs/configuration.md')
    .option('--check', 'validate the configuration and look for the data directory, then exit')
    .exitOverride();
  program.parse([...argv]);
  const opts = program.opts<{ config: string; check?: boolean }>();
  const configFile = resolve(opts.config);

  let config: Config;
  try {
    config = loadConfig(configFile);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`passgate: refusing to start: bad configuration in ${configFile}\n${e.problems.join('\n')}\n`);
    process.exit(EXIT_CONFIG);
  }

  if (opts.check) {
    // Does not open the store: run as root, that could leave root-owned WAL files behind.
    const provisioned = existsSync(join(config.dataDir, DB_FILE));
    process.stdout.write(`passgate: ${configFile} is valid; ${config.dataDir} ${provisioned ? 'holds a gate store' : 'is NOT provisioned (passgate init)'}\n`);
    process.exit(provisioned ? 0 : EXIT_CONFIG);
  }
  const root = createLogger(config.logging);
  const log = moduleLogger(root, 'main');
  const store = openStore(config, log);
  const clock = clockFromConfig(config.clock, store);

  // GPIO first: the relay must be held at its safe level before anything else can happen.
  const gpio = await buildGpio(config.gpio, root);
  let verifier: Verifier | null = null;
  let service: GateService | null = null;

  // --- process-level safety: the class installs no handlers, main does ---------------------------
  let shuttingDown = false;
  let stopWatchdog: () => void = () => {};
  const crash = (kind: string) => (err: unknown) => {
    try {
      if (service) service.releaseNow();
      else void gpio.relay.set('inactive');
    } catch {
      /* ExecStopPost forces the line as well */
    } finally {
      log.fatal({ err, kind }, 'crashed: relay released, exiting for systemd to restart');
      notify('STOPPING=1');
      process.exit(EXIT_SOFTWARE);
    }
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));

  // The link (when configured) is built before the verifier: it supplies the online look-up.
  const link = config.mqtt ? buildLink(config, store, clock, root, () => verifier, () => service, (why) => void shutdown(why, 0)) : null;
  verifier = new Verifier(store, clock, link?.lookupPort ?? NO_LOOKUP, moduleLogger(root, 'verifier'));

  const inputs = await buildInputs(config, root);
  const bus = new EventBus(moduleLogger(root, 'main'));
  service = new GateService({ ...serviceOptions(config, { store, clock, verifier, inputs, gpio, link, log: root }), bus });

  async function shutdown(reason: string, code: number): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ reason }, 'stopping');
    notify('STOPPING=1');
    stopWatchdog();
    const force = setTimeout(() => {
      log.error({ reason }, 'shutdown took too long: releasing the relay and exiting');
      service?.releaseNow();
      process.exit(code || EXIT_SOFTWARE);
    }, 8000);
    force.unref();
    await service?.stop(); // relay safe first
    await closeGpio(gpio, log);
    store.close();
    clearTimeout(force);
    root.flush();
    process.exit(code);
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));

  await clock.start(60_000, (s) => log.warn({ trusted: s.trusted, reason: s.reason }, 'clock trust changed'));
  await service.start();
  if (link) linkToBus(link, bus);
  const metrics = await startMetrics(config.metrics, { bus, status: () => service!.status(), ...(link ? { brokerConnected: () => link.connected } : {}) });
  if (metrics) log.info({ url: metrics.url }, 'metrics served');
  const identity = store.identity()!;
  log.info({ site: identity.site, gate: identity.gate, config: configFile }, 'ready');
  notify('READY=1', `STATUS=gate ${identity.site}/${identity.gate} ready`);
  stopWatchdog = startWatchdog(() => service!.health(), log);
}

// --- store -------------------------------------------------------------------------------------------

/** Opens a data directory that `passgate init` provisioned; exits 78 (EX_CONFIG) on one it did not. */
export function openStore(config: Config, log: Logger): GateStore {
  const notInitialised = () => {
    const msg =
      `data directory ${config.dataDir} is not initialised: run ` +
      `\`passgate init --data-dir ${config.dataDir} --site <site> --gate <gate> --root <federation root SPKI, base64url>\` first`;
    log.fatal({ dataDir: config.dataDir }, msg);
    process.stderr.write(`passgate: refusing to start: ${msg}\n`);
    process.exit(EXIT_CONFIG);
  };
  // GateStore.open creates what is missing: look first, so a typo in dataDir is not "initialised" as a new empty gate.
  if (!existsSync(join(config.dataDir, DB_FILE))) notInitialised();
  const store = GateStore.open(config.dataDir, { durability: config.durability });
  if (!store.identity()) {
    store.close();
    notInitialised();
  }
  return store;
}

// --- drivers -----------------------------------------------------------------------------------------

/** The scanners, ID-card reader and camera the config names: real drivers or their simulated twins. */
export async function buildInputs(config: Config, root: Logger): Promise<ScanSource[]> {
  const inputs: ScanSource[] = [];
  const needsSerial = config.scanners.some((s) => s.type === 'serial') || config.idReader?.type === 'serial';
  const binding = needsSerial ? await loadSystemSerialBinding() : null;
  const scannerLog = moduleLogger(root, 'scanner');
  config.scanners.forEach((s, i) => {
    const name = `scanner${i}`;
    switch (s.type) {
      case 'serial':
        inputs.push(new SerialScanner({ binding: binding!, path: s.path, baudRate: s.baud, acceptAim: s.aimQrOnly ? 'qr' : 'any', name, logger: scannerLog }));
        break;
      case 'simulated':
        inputs.push(new SimulatedScanner({ name, logger: scannerLog }));
        break;
      case 'hid':
        inputs.push(
          new HidScanner({
            transport: new NodeHidTransport(s.mode === 'pos' ? { usagePage: 0x8c } : {}),
            vendorId: Number.parseInt(s.vendorId.replace(/^0x/i, ''), 16),
            productId: Number.parseInt(s.productId.replace(/^0x/i, ''), 16),
            mode: s.mode === 'pos' ? 'hidpos' : 'keyboard',
            layout: s.layout,
            name,
            logger: scannerLog,
          }),
        );
        break;
    }
  });
  const reader = config.idReader;
  if (reader) {
    const logger = moduleLogger(root, 'idreader');
    inputs.push(
      reader.type === 'serial'
        ? new IdCardReader({ binding: binding!, path: reader.path, baudRate: reader.baud, pollIntervalMs: reader.pollMs, name: 'idreader', logger })
        : new SimulatedIdCardReader({ name: 'idreader', logger }),
    );
  }
  const cam = config.camera;
  if (cam) {
    // The camera stack (sharp, ZXing WebAssembly: ~15 MB resident) is loaded only for a gate that has a camera.
    const { CameraScanner, CommandMjpegSource, ImageFileSource } = await import('../drivers/camera/index.js');
    const logger = moduleLogger(root, 'camera');
    const source =
      cam.type === 'command'
        ? new CommandMjpegSource({ command: cam.command[0]!, args: cam.command.slice(1), logger })
        : new ImageFileSource(cam.files, { loop: cam.loop, intervalMs: cam.intervalMs });
    inputs.push(new CameraScanner({ source, repeatGapMs: cam.repeatGapMs, name: 'camera', logger }));
  }
  return inputs;
}

/**
 * GPIO from drivers/gpio: sysfs (chip found by label at run time, or the configured label/base) or
 * the in-memory twin. The relay line is claimed FIRST, with the de-energised level as its very first
 * level; then the inputs and the indicator.
 *
 * `memory`: the in-memory chip to use when `g.simulated` (the demo passes one so that it can drive
 * the inputs and watch the relay); a fresh MemoryGpio otherwise.
 */
export async function buildGpio(g: GpioConfig, root: Logger, memory?: MemoryGpio): Promise<GpioParts> {
  const logger = moduleLogger(root, 'gpio');
  let chip: GpioChip;
  if (g.simulated) {
    logger.warn({ relay: g.relay.line }, 'GPIO is SIMULATED (in memory): no relay is switched');
    chip = memory ?? new MemoryGpio();
  } else {
    chip = new SysfsGpio({ ...(g.chip?.label ? { chipLabel: g.chip.label } : {}), ...(g.chip?.base !== undefined ? { base: g.chip.base } : {}), logger });
  }
  // The relay's own cap is the machine's absolute one; each pulse comes with its length.
  const relay = await Relay.open(chip, { line: g.relay.line, activeLow: g.relay.activeLow, maxPulseMs: HARD_MAX_PULSE_MS, logger });
  const contact = (nc: boolean) => (nc ? 'normally-closed' : 'normally-open') as 'normally-closed' | 'normally-open';
  const passage = g.passage
    ? inputPort(await openPassageSensor(chip, { line: g.passage.line, contact: contact(g.passage.normallyClosed), pull: g.passage.pull, debounceMs: g.passage.debounceMs, logger }))
    : undefined;
  const fireAlarm = g.fireAlarm
    ? inputPort(await openFireAlarmInput(chip, { line: g.fireAlarm.line, contact: contact(g.fireAlarm.normallyClosed), pull: g.fireAlarm.pull, debounceMs: g.fireAlarm.debounceMs, logger }))
    : undefined;
  const channels: Partial<Record<Channel, IndicatorChannelConfig>> = {};
  if (g.leds?.green) channels.green = g.leds.green;
  if (g.leds?.red) channels.red = g.leds.red;
  if (g.leds?.amber) channels.amber = g.leds.amber;
  if (g.buzzer) channels.buzzer = g.buzzer;
  const indicator = Object.keys(channels).length ? indicatorPort(await Indicator.open(chip, channels)) : undefined;
  return { relay, passage, fireAlarm, indicator };
}

/** Closes the GPIO parts, the relay last (its close re-asserts the safe level); never throws. */
export async function closeGpio(gpio: GpioParts, log: Logger): Promise<void> {
  for (const part of [gpio.indicator, gpio.passage, gpio.fireAlarm, gpio.relay]) {
    try {
      await part?.close?.();
    } catch (err) {
      log.warn({ err }, 'closing a GPIO part failed');
    }
  }
}

// --- the service -------------------------------------------------------------------------------------

/** GateService's options from the config and the parts built above. */
export function serviceOptions(
  config: Config,
  parts: { store: GateStore; clock: Clock; verifier: GateServiceOptions['verifier']; inputs: ScanSource[]; gpio: GpioParts; link: GateLink | null; log: Logger },
): GateServiceOptions {
  const { gpio, link } = parts;
  return {
    store: parts.store,
    clock: parts.clock,
    verifier: parts.verifier,
    inputs: parts.inputs,
    relay: gpio.relay,
    indicator: gpio.indicator,
    passage: gpio.passage,
    fireAlarm: gpio.fireAlarm,
    link: link ? linkPort(link) : undefined,
    log: parts.log,
    gate: { ...config.gate, failMode: config.gpio.failMode, passageSensor: config.gpio.passage !== undefined },
    guardConsole: config.guardConsole.enabled ? guardConsoleSettings(config) : undefined,
  };
}

/** The console's settings, with the TLS files and the kiosk token read (a file that cannot be read refuses the start). */
export function guardConsoleSettings(config: Config): GuardConsoleSettings {
  const c = config.guardConsole;
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new PassgateError('BAD_CONFIG', `guardConsole: cannot read the ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  let kiosk: GuardConsoleSettings['kiosk'] = null;
  if (c.kiosk) {
    const token = read('kiosk token file', c.kiosk.tokenFile).toString('utf8').split(/\r?\n/)[0]!.trim();
    if (!/^[A-Za-z0-9_-]{32,128}$/.test(token)) throw new PassgateError('BAD_CONFIG', `guardConsole: the kiosk token in ${c.kiosk.tokenFile} must be 32–128 of A-Z a-z 0-9 _ -`);
    kiosk = { guard: c.kiosk.guard, token };
  }
  return {
    host: c.host,
    port: c.port,
    allowedHosts: c.allowedHosts,
    ...(c.tls ? { tls: { cert: read('TLS certificate', c.tls.cert), key: read('TLS key', c.tls.key) } } : {}),
    idleMinutes: c.idleMinutes,
    maxConnections: c.maxConnections,
    kiosk,
    dataDir: config.dataDir,
  };
}

// --- the link ----------------------------------------------------------------------------------------

/**
 * The MQTT GateLink with its command runner: `open` pulses through the service, `sync` resyncs,
 * `reload` re-reads documents, `restart` calls `restart`. Verifier and service are late-bound.
 */
export function buildLink(
  config: Config,
  store: GateStore,
  clock: Clock,
  root: Logger,
  verifier: () => Verifier | null,
  service: () => GateService | null,
  restart: (why: string) => void,
): GateLink {
  const m = config.mqtt!;
  const password = m.passwordFile ? readFileSync(m.passwordFile, 'utf8').split(/\r?\n/)[0] : undefined;
  // The runner needs the link's ModeOverrides, and the link needs the runner: late-bound.
  let runner: CommandRunner | null = null;
  const link = new GateLink({
    store,
    clock,
    onDocumentsChanged: () => verifier()?.reload(),
    broker: {
      url: m.url,
      ...(m.tls ? { tls: { ca: m.tls.ca, cert: m.tls.cert, key: m.tls.key } } : {}),
      ...(m.username ? { username: m.username } : {}),
      ...(password !== undefined ? { password } : {}),
      keepaliveSeconds: m.keepaliveSeconds,
    },
    runCommand: (c, seq) => runner!(c, seq),
    statusExtras: () => {
      const s = service();
      return s ? { gate: s.gate.snapshot(), health: s.health().parts } : null;
    },
    log: moduleLogger(root, 'sync'),
    outbox: { maxEvents: config.outbox.maxEvents },
  });
  runner = createCommandRunner({
    // takeCommand has committed the command event (seq) before this runs: the pulse is on record.
    pulse: (ms, seq) => {
      const outcome = service()?.commandOpen(seq, ms);
      if (outcome?.kind !== 'opened' && outcome?.kind !== 'queued' && outcome?.kind !== 'free') {
        throw new PassgateError('INTERNAL', `gate did not open (${outcome?.kind ?? 'not running'})`);
      }
    },
    resync: () => link.resync(),
    reload: () => verifier()?.reload(),
    modes: link.modes,
    restart: () => restart('restart command'),
  });
  return link;
}

function linkPort(link: GateLink): LinkPort {
  return {
    start: () => link.start(),
    stop: () => link.stop(),
    // Offline is a state, not a fault: the gate decides without the broker.
    health: () => ({ ok: true, detail: link.connected ? 'connected' : 'offline' }),
  };
}

// --- systemd -----------------------------------------------------------------------------------------

/** sd_notify through `systemd-notify --pid` (Node has no datagram Unix sockets; NotifyAccess=all). */
export function notify(...states: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, ...states], { timeout: 5000 }, () => {
    /* a missed notification shows in systemd's own log; nothing to do here */
  });
}

/**
 * WATCHDOG=1 every WATCHDOG_USEC/2, only while the event loop keeps time (the timer fired within
 * half an interval of when it should) and the service reports its parts healthy enough.
 */
function startWatchdog(health: () => { watchdogOk: boolean; parts: Record<string, { ok: boolean }> }, log: Logger): () => void {
  const usec = Number(process.env.WATCHDOG_USEC);
  const pid = process.env.WATCHDOG_PID;
  if (!process.env.NOTIFY_SOCKET || !Number.isFinite(usec) || usec <= 0 || (pid && Number(pid) !== process.pid)) return () => {};
  const intervalMs = Math.max(100, Math.floor(usec / 1000 / 2));
  let expected = performance.now() + intervalMs;
  let warned = false;
  const timer = setInterval(() => {
    const now = performance.now();
    const lagMs = now - expected;
    expected = now + intervalMs;
    const h = health();
    const loopOk = lagMs < intervalMs / 2;
    if (loopOk && h.watchdogOk) {
      notify('WATCHDOG=1');
      warned = false;
    } else if (!warned) {
      warned = true;
      const failing = Object.entries(h.parts).filter(([, p]) => !p.ok).map(([n]) => n);
      log.error({ lagMs: Math.round(lagMs), failing }, 'withholding the watchdog ping: systemd will restart the service if this persists');
    }
  }, intervalMs);
  return () => clearInterval(timer);
}

// --- entry -------------------------------------------------------------------------------------------

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isEntry) {
  main().catch((e: unknown) => {
    if (e && typeof e === 'object' && 'code' in e && String((e as { code: unknown }).code).startsWith('commander.')) {
      process.exit((e as { exitCode?: number }).exitCode ?? EXIT_CONFIG);
    }
    process.stderr.write(`passgate: refusing to start: ${isPassgateError(e) ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exit(isPassgateError(e) ? EXIT_CONFIG : EXIT_SOFTWARE);
  });
}
