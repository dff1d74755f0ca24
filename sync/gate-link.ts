/**
 * GateLink: the gate's whole MQTT side in one object for the composition root — connection, outbox
 * publisher, downlink (documents, lists, acks), look-ups, commands and R/status.
 *
 *   const link = new GateLink({ store, clock, bus, recorder, broker: { url }, gateCommands, log });
 *   const verifier = new Verifier(store, clock, link.lookupPort, log, recorder);
 *   link.start();            // returns at once; the gate decides with or without a broker
 *   …
 *   await link.stop();       // clean: `offline` retained, then DISCONNECT
 *
 * It talks to the rest of the gate over the bus (app/compose.ts builds it so): it hears
 * `eventRecorded` and publishes at once (the outbox's poll is only a safety net); `gateChanged`,
 * `healthChanged` and `documentsChanged` republish R/status (its `hardware` part is what the gate
 * and the parts last told); and it tells `documentsChanged` when the backend's documents or lists
 * are applied, which the verifier hears.
 */
import type { GateStore, Identity } from '../device/store/store.js';
import type { Clock } from '../device/core/ports.js';
import type { LookupPort } from '../device/verifier.js';
import { createCommandRunner, type CommandParts, type CommandRunner } from '../device/command-intake.js';
import { EventBus, type BusEvents } from '../device/bus.js';
import { EventRecorder } from '../device/events.js';
import { gateStatus } from '../device/status.js';
import { GateConnection, type BrokerOptions, type ConnectedInfo, type MessageProps } from './connection.js';
import { GateTopics } from './topics.js';
import type { HardwareStatus, StatusPayload } from './contract.js';
import { OutboxPublisher, type OutboxOptions } from './outbox-publisher.js';
import { Downlink, type DownlinkOptions } from './downlink.js';
import { MqttLookup, type LookupOptions } from './lookup.js';
import { CommandChannel } from './command-channel.js';
import { ModeOverrides } from '../device/modes.js';
import { StatusPublisher, type StatusOptions } from './status-publisher.js';
import { RefusalCounter } from './refusals.js';
import { moduleLogger, SILENT, type Logger } from '../base/log.js';
import { PassgateError } from '../base/errors.js';
import { softwareVersion } from './version.js';
import type { LinkParts } from './link-parts.js';
import { LIST_NAMES, type ListName } from '../device/core/types.js';

export interface GateLinkOptions {
  store: GateStore;
  clock: Clock;
  /** Default: the store's identity (which must exist: `passgate init`). */
  identity?: Identity;
  /** The gate's bus (default: one of its own, for a link alone in a test or bench). */
  bus?: EventBus;
  /** The gate's one event recorder (default: one on `bus`); command events go through it. */
  recorder?: EventRecorder;
  broker: BrokerOptions;
  /** What `open` and `restart` do on this gate; the other commands are the link's own. */
  gateCommands?: Pick<CommandParts, 'pulse' | 'restart'>;
  /** Replaces the standard meaning of every command (tests record what ran). */
  runCommand?: CommandRunner;
  log?: Logger;
  /** Announced in R/state and R/status; default: passgate's package.json version. */
  softwareVersion?: string;
  outbox?: OutboxOptions;
  sync?: DownlinkOptions;
  lookup?: LookupOptions;
  status?: StatusOptions;
}

export interface GateLinkEvents {
  connected: (info: ConnectedInfo) => void;
  disconnected: (reason: string) => void;
  /** Something R/status shows changed (a list, a document, a refusal, an ack). */
  changed: () => void;
}

export class GateLink {
  readonly topics: GateTopics;
  readonly refusals: RefusalCounter;
  readonly modes: ModeOverrides;
  private readonly connection: GateConnection;
  private readonly outbox: OutboxPublisher;
  private readonly downlink: Downlink;
  private readonly lookup: MqttLookup;
  private readonly commands: CommandChannel;
  private readonly status: StatusPublisher;
  private readonly version: string;
  private readonly listeners: { [K in keyof GateLinkEvents]: Set<GateLinkEvents[K]> } = {
    connected: new Set(),
    disconnected: new Set(),
    changed: new Set(),
  };
  private started = false;
  private listening = false;
  readonly bus: EventBus;
  /** R/status `hardware`: the gate's state and each part's health, as last told on the bus. */
  private readonly hardware: { gate: BusEvents['gateChanged'] | null; health: HardwareStatus['health'] } = { gate: null, health: {} };

  constructor(private readonly opts: GateLinkOptions) {
    const { store, clock } = opts;
    const identity = opts.identity ?? store.identity();
    if (!identity) throw new PassgateError('NOT_INITIALISED', 'GateLink: the store has no identity (run passgate init first)');
    const log = opts.log ?? SILENT;
    this.version = opts.softwareVersion ?? softwareVersion();
    this.topics = new GateTopics(identity.site, identity.gate);
    const changed = () => this.changed();
    this.refusals = new RefusalCounter(changed);
    this.modes = new ModeOverrides(store, clock);
    this.bus = opts.bus ?? new EventBus(log);
    const recorder = opts.recorder ?? new EventRecorder(store, clock, this.bus);
    const runCommand =
      opts.runCommand ??
      createCommandRunner({
        pulse: opts.gateCommands?.pulse ?? (() => {
          throw new PassgateError('INTERNAL', 'no gate to open');
        }),
        restart: opts.gateCommands?.restart ?? (() => log.warn({}, 'restart asked for, but nothing here restarts')),
        resync: () => this.resync(),
        reload: () => this.bus.emit('documentsChanged', { kinds: ['trust', 'policy'] }),
        modes: this.modes,
      });

    this.connection = new GateConnection({
      broker: opts.broker,
      topics: this.topics,
      nextSession: () => store.nextSession(),
      softwareVersion: this.version,
      nowMs: () => clock.nowMs(),
      log: moduleLogger(log, 'sync:mqtt'),
      handler: {
        connected: (info) => this.onConnected(info),
        disconnected: (reason) => this.onDisconnected(reason),
        message: (topic, payload, props) => this.downlink.message(topic, payload, props),
      },
    });
    this.outbox = new OutboxPublisher(store, this.connection, this.topics, clock, moduleLogger(log, 'sync:outbox'), opts.outbox, changed);
    const parts: LinkParts = { store, clock, topics: this.topics, conn: this.connection, refusals: this.refusals };
    this.lookup = new MqttLookup(parts, moduleLogger(log, 'sync:lookup'), opts.lookup);
    this.commands = new CommandChannel({ store, clock, recorder }, this.topics, this.connection, runCommand, this.refusals, moduleLogger(log, 'sync:cmd'));
    this.downlink = new Downlink(
      parts,
      {
        documentsChanged: (kinds) => this.bus.emit('documentsChanged', { kinds }),
        changed,
        acked: (upTo) => this.outbox.acked(upTo),
        ackRefused: () => this.outbox.ackRefused(),
        lookupAnswer: (text) => this.lookup.answer(text),
        command: (text: string, props: MessageProps) => void this.commands.take(text, props),
      },
      moduleLogger(log, 'sync:downlink'),
      opts.sync,
    );
    this.listen(); // from the start: the gate's boot and first health reports come before start()
    this.status = new StatusPublisher(() => this.buildStatus(), this.connection, moduleLogger(log, 'sync:status'), opts.status);
  }

  /** Everything recorded goes up at once; whatever R/status shows is republished when it changes. */
  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.bus.on('eventRecorded', this, () => this.outbox.kick());
    this.bus.on('gateChanged', this, (g) => {
      this.hardware.gate = g;
      this.status.changed();
    });
    this.bus.on('healthChanged', this, ({ part, ...health }) => {
      this.hardware.health[part] = health;
      this.status.changed();
    });
    this.bus.on('documentsChanged', this, () => this.changed());
  }

  /** The Verifier's LookupPort: asks the backend while connected, resolves null at once when not. */
  get lookupPort(): LookupPort {
    return this.lookup;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** The current connection's session number (0 before the first attempt). */
  get session(): number {
    return this.connection.session;
  }

  get protocolVersion(): 4 | 5 | null {
    return this.connection.protocolVersion;
  }

  /** Starts connecting (in the background) and publishing the outbox. Never throws for a missing broker. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.listen();
    this.outbox.start();
    this.connection.start();
  }

  /** Clean stop: `offline` retained, DISCONNECT (no will), timers cleared. The store stays open. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.bus.removeListeners(this);
    this.listening = false;
    this.outbox.stop();
    this.downlink.stop();
    this.status.stop();
    // A command still running gets a moment to finish and answer; a hung runner does not block the stop.
    await Promise.race([this.commands.idle(), new Promise((r) => setTimeout(r, 5000).unref?.())]);
    await this.connection.stop();
  }

  /** Ask the backend for both lists (or one) now, past the rate limit: the `sync` command. */
  resync(lists: readonly ListName[] = LIST_NAMES): void {
    for (const l of lists) this.downlink.requestSync(l, 'resync', true);
  }

  /** Publishes R/status now (e.g. before a planned restart). */
  publishStatus(): Promise<void> {
    return this.status.publishNow();
  }

  /** Resolves once every command received so far has been handled and answered. */
  commandsIdle(): Promise<void> {
    return this.commands.idle();
  }

  on<K extends keyof GateLinkEvents>(event: K, listener: GateLinkEvents[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Counters of every part, for R/status, tests and benchmarks. */
  stats() {
    return {
      outbox: this.outbox.snapshot(),
      downlink: { ...this.downlink.stats },
      lookup: { ...this.lookup.stats },
      commands: { ...this.commands.stats },
      status: { ...this.status.stats },
      refusals: this.refusals.byCode(),
    };
  }

  private onConnected(info: ConnectedInfo): void {
    this.outbox.connected(info.session);
    this.downlink.connected();
    this.status.connected();
    this.emit('connected', info);
  }

  private onDisconnected(reason: string): void {
    this.outbox.disconnected();
    this.lookup.disconnected();
    this.status.disconnected();
    this.emit('disconnected', reason);
  }

  private changed(): void {
    this.status.changed();
    this.emit('changed');
  }

  private emit<K extends keyof GateLinkEvents>(event: K, ...args: Parameters<GateLinkEvents[K]>): void {
    for (const l of this.listeners[event]) {
      try {
        (l as (...a: Parameters<GateLinkEvents[K]>) => void)(...args);
      } catch (e) {
        (this.opts.log ?? SILENT).error({ err: e, event }, 'GateLink listener failed');
      }
    }
  }

  private buildStatus(): StatusPayload {
    const { store, clock } = this.opts;
    const base = gateStatus(store, clock);
    const last = this.refusals.last();
    return {
      ...base,
      tsMs: clock.nowMs(),
      session: this.connection.session,
      version: this.version,
      mqtt: { protocolVersion: this.connection.protocolVersion },
      outbox: { ...base.outbox, publisher: this.outbox.snapshot() },
      refusals: {
        total: this.refusals.total(),
        byCode: this.refusals.byCode(),
        byKind: this.refusals.byKind(),
        last: last ? { code: last.code, topic: last.topic, atMs: last.atMs } : null,
      },
      commands: { ...this.commands.stats },
      modeOverride: this.modes.current(),
      lookup: { ...this.lookup.stats },
      // The gate machine and the parts' health as told on the bus (null without a gate service);
      // nested so it cannot shadow a field above (gateStatus' `gate` is the gate id).
      hardware: this.hardware.gate ? { gate: this.hardware.gate, health: { ...this.hardware.health } } : null,
    };
  }
}
