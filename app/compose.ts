/**
 * Where a gate is assembled: `compose(config, overrides)` builds every part from a validated config,
 * each from parts built before it, and returns them with one `start()` and one `stop()`. The
 * service (app/main.ts), the demo, the reference gate simulator, the benchmarks and the tests all
 * build their gates here; overrides swap in what a test or the demo needs (an in-memory GPIO chip,
 * injected scan sources, a clock, a logger, an open store, broker options …).
 *
 *   store, clock, bus, recorder ─▶ GPIO (relay at its safe level first) ─▶ gate controller
 *     ─▶ link (MQTT, when configured: its `open` pulses the controller) ─▶ verifier (the link's look-up)
 *     ─▶ inputs ─▶ service (scans → verifier → controller; console; health)
 *
 * Nothing is late-bound: the parts that must hear each other do it over the bus (device/bus.ts):
 * every event recorded reaches the link at once, gate and health changes republish R/status,
 * documents applied by the link reload the verifier. Listeners are removed by owner on stop.
 */
import { readFileSync } from 'node:fs';
import type { Config, GpioConfig } from '../device/config.js';
import { createLogger } from '../device/log.js';
import type { GateStore } from '../device/store/store.js';
import { StoreRefused, openProvisionedStore } from '../device/store/startup.js';
import { clockFromConfig } from '../device/clock-trust.js';
import type { Clock } from '../device/core/ports.js';
import { PassgateError } from '../base/errors.js';
import { EventBus } from '../device/bus.js';
import { EventRecorder } from '../device/events.js';
import { loadPolicy } from '../device/documents.js';
import { NO_LOOKUP, Verifier, type LookupPort } from '../device/verifier.js';
import { GateService, type DigitalInputPort, type GateServiceOptions, type GuardConsoleSettings, type HealthReport, type LinkPort, type ScanSource } from '../device/service.js';
import { GateController, type IndicatorPort, type RelayPort, type TimerPort } from '../device/gate/controller.js';
import { indicatorPort, inputPort } from '../device/gate/gpio.js';
import { HARD_MAX_PULSE_MS } from '../device/gate/machine.js';
import { Relay } from '../drivers/gpio/relay.js';
import type { BindingInterface } from '../drivers/serial/binding.js';
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
import { GateLink, type GateLinkOptions } from '../sync/gate-link.js';
import type { BrokerOptions } from '../sync/connection.js';

/** The logger the parts take: pino, or anything with its four levels (children optional). */
export interface GateLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: object): GateLogger;
  flush?(): void;
}

/** What a caller may put in place of what the config would build. */
export interface ComposeOverrides {
  /** An open, provisioned store (kept open on stop: its owner closes it). Default: the config's data directory. */
  store?: GateStore;
  clock?: Clock;
  /** The root logger. Default: pino from `config.logging`. */
  log?: GateLogger;
  /** The chip used when `config.gpio.simulated` (the demo and tests drive its inputs and watch the relay). */
  gpioChip?: GpioChip;
  /** Scan sources in place of the config's scanners, ID-card reader and camera. */
  inputs?: ScanSource[];
  /** The serial binding for serial scanners and readers (default: the system's). */
  serialBinding?: BindingInterface;
  /** Merged over the broker options from `config.mqtt` (reconnect timing, protocol version …). */
  broker?: Partial<BrokerOptions>;
  /** Link tuning for tests and benches (sync, status, look-up, outbox options, a command runner). */
  link?: Pick<GateLinkOptions, 'sync' | 'status' | 'lookup' | 'outbox' | 'softwareVersion' | 'runCommand'>;
  /** Where the guard console listens (`port: 0`: any free port); null: none. Default: the config's. */
  guardConsole?: GuardConsoleSettings | null;
  /** The verifier's online look-up when there is no link (tests); with a link, the link's. */
  lookup?: LookupPort;
  /** Wraps the verifier as the service sees it (the demo watches verdicts go by). */
  verifier?: (verifier: Verifier) => GateServiceOptions['verifier'];
  /** What a signed `restart` command does (the service exits for systemd). Default: logs it. */
  restart?: (why: string) => void;
  timers?: TimerPort;
  /** Monotonic ms for the gate machine (default: clock.monoMs()). */
  now?: () => number;
}

/** A GPIO part as compose holds it: a gate port plus closing the line. */
export interface Closable {
  close?(): void | Promise<void>;
}
export interface GpioParts {
  chip: GpioChip;
  relay: RelayPort & Closable & { health?(): HealthReport };
  passage?: DigitalInputPort & Closable;
  fireAlarm?: DigitalInputPort & Closable;
  indicator?: IndicatorPort & Closable;
}

/** A whole gate, built and not yet started. */
export interface Gate {
  config: Config;
  store: GateStore;
  clock: Clock;
  log: GateLogger;
  bus: EventBus;
  recorder: EventRecorder;
  gpio: GpioParts;
  controller: GateController;
  link: GateLink | null;
  verifier: Verifier;
  inputs: ScanSource[];
  service: GateService;
  /** Starts the inputs, the guard console and the link. */
  start(): Promise<void>;
  /** Relay safe first, then everything else; closes the store if compose opened it. Idempotent, never throws. */
  stop(): Promise<void>;
  /** For a crash handler: the relay to its safe level now. */
  releaseNow(): void;
}

/** Refused before anything started (exit 78 from the service: systemd must not loop on it). */
export class StartRefused extends PassgateError {
  constructor(message: string) {
    super('BAD_CONFIG', message);
  }
}

export async function compose(config: Config, o: ComposeOverrides = {}): Promise<Gate> {
  const log: GateLogger = o.log ?? createLogger(config.logging);
  const ownStore = o.store === undefined;
  const store = o.store ?? openStore(config);
  const clock = o.clock ?? clockFromConfig(config.clock, store);
  const now = o.now ?? (() => clock.monoMs());
  const bus = new EventBus(sub(log, 'bus'));
  const recorder = new EventRecorder(store, clock, bus);
  try {
    // GPIO first: the relay is held at its safe level before anything else can happen.
    const gpio = await buildGpio(config.gpio, log, o.gpioChip);
    const controller = new GateController({
      settings: { ...config.gate, failMode: config.gpio.failMode, passageSensor: config.gpio.passage !== undefined },
      relay: gpio.relay,
      indicator: gpio.indicator,
      record: (body) => recorder.record(body),
      now,
      timers: o.timers,
      log: sub(log, 'gate'),
      bus,
    });
    const link = config.mqtt ? buildLink(config, { store, clock, bus, recorder, controller, log, overrides: o }) : null;
    const verifier = new Verifier(store, clock, link?.lookupPort ?? o.lookup ?? NO_LOOKUP, sub(log, 'verifier'), recorder);
    bus.on('documentsChanged', verifier, ({ kinds }) => {
      if (kinds.includes('trust') || kinds.includes('policy')) verifier.reload();
    });
    const inputs = o.inputs ?? (await buildInputs(config, log, o.serialBinding));
    const guardConsole = o.guardConsole !== undefined ? o.guardConsole : config.guardConsole.enabled ? guardConsoleSettings(config) : null;
    const service = new GateService({
      store,
      clock,
      verifier: o.verifier ? o.verifier(verifier) : verifier,
      gate: controller,
      inputs,
      relay: gpio.relay,
      passage: gpio.passage,
      fireAlarm: gpio.fireAlarm,
      link: link ? linkPort(link) : undefined,
      log,
      bus,
      recorder,
      now,
      ...(guardConsole ? { guardConsole } : {}),
    });

    let stopped = false;
    return {
      config,
      store,
      clock,
      log,
      bus,
      recorder,
      gpio,
      controller,
      link,
      verifier,
      inputs,
      service,
      start: () => service.start(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await service.stop(); // relay safe first; inputs, console and link after
        bus.removeListeners(verifier);
        await closeGpio(gpio, log);
        if (ownStore) store.close();
      },
      releaseNow: () => controller.releaseNow(),
    };
  } catch (e) {
    if (ownStore) store.close();
    throw e;
  }
}

// --- store -------------------------------------------------------------------------------------------

/**
 * Opens, migrates and checks a data directory that `passgate init` provisioned, the way the service
 * does (device/store/startup.ts) but without its policy: a store that is not provisioned, not
 * writable or damaged is refused (StartRefused, one line), never repaired here.
 */
export function openStore(config: Pick<Config, 'dataDir' | 'durability'>): GateStore {
  try {
    return openProvisionedStore(config).store;
  } catch (e) {
    if (e instanceof StoreRefused) throw new StartRefused(e.detail);
    throw e;
  }
}

// --- guard console -----------------------------------------------------------------------------------

/** The console's settings, with the TLS files and the kiosk token read (a file that cannot be read refuses the start). */
export function guardConsoleSettings(config: Config): GuardConsoleSettings {
  const c = config.guardConsole;
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new StartRefused(`guardConsole: cannot read the ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  let kiosk: GuardConsoleSettings['kiosk'] = null;
  if (c.kiosk) {
    const token = read('kiosk token file', c.kiosk.tokenFile).toString('utf8').split(/\r?\n/)[0]!.trim();
    if (!/^[A-Za-z0-9_-]{32,128}$/.test(token)) throw new StartRefused(`guardConsole: the kiosk token in ${c.kiosk.tokenFile} must be 32–128 of A-Z a-z 0-9 _ -`);
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

// --- drivers -----------------------------------------------------------------------------------------

/**
 * The scanners, ID-card reader and camera the config names: real drivers or their simulated twins.
 * Each driver is loaded only when configured: a gate without a camera never loads sharp and ZXing,
 * one without a HID scanner never loads node-hid.
 */
export async function buildInputs(config: Config, root: GateLogger, serialBinding?: BindingInterface): Promise<ScanSource[]> {
  const inputs: ScanSource[] = [];
  const needsSerial = config.scanners.some((s) => s.type === 'serial') || config.idReader?.type === 'serial';
  const binding = needsSerial ? (serialBinding ?? (await (await import('../drivers/serial/binding.js')).loadSystemSerialBinding())) : null;
  const scannerLog = sub(root, 'scanner');
  const { SerialScanner, SimulatedScanner } = config.scanners.length ? await import('../drivers/serial-scanner/index.js') : ({} as typeof import('../drivers/serial-scanner/index.js'));
  const hid = config.scanners.some((s) => s.type === 'hid') ? await import('../drivers/hid-scanner/index.js') : null;
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
          new hid!.HidScanner({
            transport: new hid!.NodeHidTransport(s.mode === 'pos' ? { usagePage: 0x8c } : {}),
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
    const { IdCardReader, SimulatedIdCardReader } = await import('../drivers/idcard/index.js');
    const logger = sub(root, 'idreader');
    inputs.push(
      reader.type === 'serial'
        ? new IdCardReader({ binding: binding!, path: reader.path, baudRate: reader.baud, pollIntervalMs: reader.pollMs, name: 'idreader', logger })
        : new SimulatedIdCardReader({ name: 'idreader', logger }),
    );
  }
  const cam = config.camera;
  if (cam) {
    const { CameraScanner, CommandMjpegSource, ImageFileSource } = await import('../drivers/camera/index.js');
    const logger = sub(root, 'camera');
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
 * an in-memory chip (`chip`, or a fresh MemoryGpio). The relay line is claimed FIRST, with the
 * de-energised level as its very first level; then the inputs and the indicator.
 */
export async function buildGpio(g: GpioConfig, root: GateLogger, memory?: GpioChip): Promise<GpioParts> {
  const logger = sub(root, 'gpio');
  let chip: GpioChip;
  if (g.simulated) {
    logger.warn({ relay: g.relay.line }, 'GPIO is SIMULATED (in memory): no relay is switched');
    chip = memory ?? new MemoryGpio();
  } else {
    chip = new SysfsGpio({ ...(g.chip?.sysfsRoot ? { root: g.chip.sysfsRoot } : {}), ...(g.chip?.label ? { chipLabel: g.chip.label } : {}), ...(g.chip?.base !== undefined ? { base: g.chip.base } : {}), logger });
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
  return { chip, relay, passage, fireAlarm, indicator };
}

/** Closes the GPIO parts, the relay last (its close re-asserts the safe level); never throws. */
export async function closeGpio(gpio: GpioParts, log: GateLogger): Promise<void> {
  for (const part of [gpio.indicator, gpio.passage, gpio.fireAlarm, gpio.relay]) {
    try {
      await part?.close?.();
    } catch (err) {
      log.warn({ err }, 'closing a GPIO part failed');
    }
  }
}

// --- the link ----------------------------------------------------------------------------------------

/**
 * The MQTT GateLink: a remote `open` pulses the controller (its event is committed before this
 * runs), `restart` is the process's; sync, reload and set-mode are the link's own.
 */
function buildLink(
  config: Config,
  p: { store: GateStore; clock: Clock; bus: EventBus; recorder: EventRecorder; controller: GateController; log: GateLogger; overrides: ComposeOverrides },
): GateLink {
  const m = config.mqtt!;
  const { store, controller, log, overrides: o } = p;
  const password = m.passwordFile ? readFileSync(m.passwordFile, 'utf8').split(/\r?\n/)[0] : undefined;
  return new GateLink({
    store,
    clock: p.clock,
    bus: p.bus,
    recorder: p.recorder,
    broker: {
      url: m.url,
      ...(m.tls ? { tls: { ca: m.tls.ca, cert: m.tls.cert, key: m.tls.key } } : {}),
      ...(m.username ? { username: m.username } : {}),
      ...(password !== undefined ? { password } : {}),
      keepaliveSeconds: m.keepaliveSeconds,
      ...o.broker,
    },
    gateCommands: {
      pulse: (ms, seq) => {
        const outcome = controller.command(seq, ms ?? loadPolicy(store).pulseMs);
        if (outcome.kind !== 'opened' && outcome.kind !== 'queued' && outcome.kind !== 'free') {
          throw new PassgateError('INTERNAL', `gate did not open (${outcome.kind})`);
        }
      },
      restart: () => (o.restart ? o.restart('restart command') : log.warn({}, 'restart command: nothing here restarts the process')),
    },
    log: sub(log, 'sync'),
    outbox: { maxEvents: config.outbox.maxEvents, ...o.link?.outbox },
    ...(o.link?.sync ? { sync: o.link.sync } : {}),
    ...(o.link?.status ? { status: o.link.status } : {}),
    ...(o.link?.lookup ? { lookup: o.link.lookup } : {}),
    ...(o.link?.softwareVersion ? { softwareVersion: o.link.softwareVersion } : {}),
    ...(o.link?.runCommand ? { runCommand: o.link.runCommand } : {}),
  });
}

function linkPort(link: GateLink): LinkPort {
  return {
    start: () => link.start(),
    stop: () => link.stop(),
    // Offline is a state, not a fault: the gate decides without the broker.
    health: () => ({ ok: true, detail: link.connected ? 'connected' : 'offline' }),
  };
}

/** A child logger for a module, when the logger has children. */
function sub(log: GateLogger, mod: string): GateLogger {
  return typeof log.child === 'function' ? log.child({ mod }) : log;
}
