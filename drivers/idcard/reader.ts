/**
 * `IdCardReader`: a resident-ID-card reader module (SAM_V, GA/T 467) on a serial port.
 *
 *   open ─▶ [11 FF status] ─▶ poll: find (20 01) every pollIntervalMs
 *              find 9F, no card held ─▶ select (20 02) ─▶ read (30 01) ─▶ scan (once per presentation)
 *              find 9F, card held     ─▶ nothing (the same card is still on the reader)
 *              find 80 × absentPolls  ─▶ card gone; the next find 9F is a new presentation
 *
 * One command outstanding at a time, each with its own timeout; after `reopenAfterTimeouts`
 * consecutive timeouts the port is closed and reopened (with backoff). Reply frames are de-framed
 * from arbitrary chunks (frame.ts), so split frames, noise and bad checksums are survived.
 *
 * Personal data: the ID number and name go into the `scan` event only (the name masked); they are
 * never logged, and reply buffers are zeroed after parsing. The photo is never decoded or kept. A
 * re-read of the same card right after it left is recognised by a SHA-256 of the ID number held in
 * memory for `repeatHoldMs`.
 */
import { createHash } from 'node:crypto';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Presented } from '../../base/presented.js';
import { checkInteger } from '../../base/check.js';
import { TypedEmitter } from '../common/emitter.js';
import { errorText, SILENT } from '../../base/log.js';
import { SupervisedPort } from '../serial/supervised-port.js';
import type { BackoffOptions, DriverHealth, Logger, InputDriver, InputDriverEvents } from '../types.js';
import { commandFrame, hex, parseResponse, SamDeframer, SW3, sw3Name, type CommandName, type SamResponse } from './frame.js';
import { parseReadData } from './text.js';

export interface IdCardReaderOptions {
  /** Serial binding (system, MockBinding, VirtualSerialLink). Required. */
  binding: BindingInterface;
  /** Device path, ideally `/dev/serial/by-path/…` (CH340/PL2303 adapters have no serial number). Required. */
  path: string;
  /** [9600…921600], default 115200 (the SAM default; also 57600/38400/19200/9600). */
  baudRate?: number;
  /** Find-card poll interval, [5…10000] ms, default 250. */
  pollIntervalMs?: number;
  /** Per-command reply timeouts in ms, [10…30000]: find 500, select 500, read 2000, status 500. */
  timeouts?: { find?: number; select?: number; read?: number; status?: number };
  /** Consecutive timeouts before the port is reopened, [1…100], default 3. */
  reopenAfterTimeouts?: number;
  /** Finds reporting no card before a held card counts as removed, [1…100], default 2. */
  absentPolls?: number;
  /** Failed reads of one presentation before it is reported `unreadable`, [1…10], default 3. */
  readAttempts?: number;
  /** The same card read again within this long after leaving gives no second scan, [0…60000] ms, default 2000. */
  repeatHoldMs?: number;
  /** Send a SAM status check (11 FF) after each open, default true. */
  checkSamOnOpen?: boolean;
  /** Reopen backoff; defaults 250 ms doubling to 10 s, ±20 %. */
  backoff?: BackoffOptions;
  /** Device-node presence check while open, ms, 0 = off, default 1000. */
  presenceCheckMs?: number;
  /** Default `idcard`. */
  name?: string;
  logger?: Logger;
  random?: () => number;
}

export interface IdCardReaderCounters {
  scans: number;
  unreadable: number;
  commands: number;
  timeouts: number;
  badFrames: number;
  unexpectedFrames: number;
  readFailures: number;
  suppressedRepeats: number;
  samErrors: number;
  noiseBytes: number;
  opens: number;
  openFailures: number;
  disconnects: number;
  reopens: number;
  [counter: string]: number;
}

type Command = Extract<CommandName, 'find' | 'select' | 'readText' | 'samStatus'>;

const TIMEOUT_KEY: Record<Command, 'find' | 'select' | 'read' | 'status'> = { find: 'find', select: 'select', readText: 'read', samStatus: 'status' };

export class IdCardReader extends TypedEmitter<InputDriverEvents> implements InputDriver<IdCardReaderCounters> {
  readonly name: string;
  readonly #port: SupervisedPort;
  readonly #deframer = new SamDeframer({ minLength: 4, maxLength: 4096 });
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #timeouts: Record<'find' | 'select' | 'read' | 'status', number>;
  readonly #reopenAfter: number;
  readonly #absentPolls: number;
  readonly #readAttempts: number;
  readonly #repeatHoldMs: number;
  readonly #checkSam: boolean;
  readonly #counts = { scans: 0, unreadable: 0, commands: 0, timeouts: 0, badFrames: 0, unexpectedFrames: 0, readFailures: 0, suppressedRepeats: 0, samErrors: 0 };
  #lastError: string | undefined;
  #pending: { command: Command; timer: NodeJS.Timeout } | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #consecutiveTimeouts = 0;
  /** A card was delivered (or given up on) and has not been seen leaving. */
  #held = false;
  #absent = 0;
  #failedReads = 0;
  #lastCard: { hash: string; goneAtMs: number | null } | null = null;

  constructor(options: IdCardReaderOptions) {
    super();
    this.name = options.name ?? 'idcard';
    this.#log = options.logger ?? SILENT;
    this.#pollMs = checkInteger('pollIntervalMs', options.pollIntervalMs ?? 250, 5, 10_000);
    const t = options.timeouts ?? {};
    this.#timeouts = {
      find: checkInteger('timeouts.find', t.find ?? 500, 10, 30_000),
      select: checkInteger('timeouts.select', t.select ?? 500, 10, 30_000),
      read: checkInteger('timeouts.read', t.read ?? 2000, 10, 30_000),
      status: checkInteger('timeouts.status', t.status ?? 500, 10, 30_000),
    };
    this.#reopenAfter = checkInteger('reopenAfterTimeouts', options.reopenAfterTimeouts ?? 3, 1, 100);
    this.#absentPolls = checkInteger('absentPolls', options.absentPolls ?? 2, 1, 100);
    this.#readAttempts = checkInteger('readAttempts', options.readAttempts ?? 3, 1, 10);
    this.#repeatHoldMs = checkInteger('repeatHoldMs', options.repeatHoldMs ?? 2000, 0, 60_000);
    this.#checkSam = options.checkSamOnOpen ?? true;
    this.#port = new SupervisedPort({
      binding: options.binding,
      path: options.path,
      baudRate: checkInteger('baudRate', options.baudRate ?? 115_200, 9600, 921_600),
      backoff: options.backoff,
      presenceCheckMs: options.presenceCheckMs,
      logger: this.#log,
      name: this.name,
      random: options.random,
    });
    this.#port.on('open', () => this.#onOpen());
    this.#port.on('close', () => this.#halt());
    this.#port.on('data', (chunk) => this.#onData(chunk));
    this.#port.on('state', (state) => this.emit('state', state));
  }

  start(): Promise<void> {
    return this.#port.start();
  }

  async stop(): Promise<void> {
    this.#halt();
    await this.#port.stop();
  }

  health(): DriverHealth<IdCardReaderCounters> {
    const p = this.#port.counters;
    const h: DriverHealth<IdCardReaderCounters> = {
      state: this.#port.state,
      counters: {
        ...this.#counts,
        noiseBytes: this.#deframer.noiseBytes,
        opens: p.opens,
        openFailures: p.openFailures,
        disconnects: p.disconnects,
        reopens: p.reopens,
      },
    };
    const lastError = this.#lastError ?? this.#port.lastError;
    if (lastError !== undefined) h.lastError = lastError;
    return h;
  }

  protected override onListenerError(err: unknown, event: string): void {
    this.#log.error({ driver: this.name, event, err: errorText(err) }, 'scan listener threw');
  }

  #onOpen(): void {
    this.#halt();
    this.#held = false;
    this.#absent = 0;
    this.#failedReads = 0;
    this.#consecutiveTimeouts = 0;
    if (this.#checkSam) this.#send('samStatus');
    else this.#schedulePoll(0);
  }

  /** Stops polling and forgets the outstanding command and any partial frame. */
  #halt(): void {
    if (this.#pending) clearTimeout(this.#pending.timer);
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pending = null;
    this.#pollTimer = null;
    this.#deframer.reset();
  }

  #schedulePoll(delayMs: number): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = null;
      this.#send('find');
    }, delayMs);
  }

  #send(command: Command): void {
    if (this.#pending) return; // one command at a time
    if (!this.#port.write(commandFrame(command))) return; // closed: polling resumes on the next open
    this.#counts.commands++;
    const timer = setTimeout(() => this.#onTimeout(command), this.#timeouts[TIMEOUT_KEY[command]]);
    this.#pending = { command, timer };
  }

  #onTimeout(command: Command): void {
    if (this.#pending?.command !== command) return;
    this.#pending = null;
    this.#counts.timeouts++;
    this.#consecutiveTimeouts++;
    this.#deframer.reset();
    this.#lastError = `no reply to ${command} within ${this.#timeouts[TIMEOUT_KEY[command]]} ms`;
    this.#log.debug({ driver: this.name, command, consecutive: this.#consecutiveTimeouts }, 'SAM reply timeout');
    if (command === 'readText') this.#readFailed('card read timed out');
    if (this.#consecutiveTimeouts >= this.#reopenAfter) {
      this.#consecutiveTimeouts = 0;
      this.#port.reopen(`${this.#reopenAfter} consecutive SAM timeouts`);
      return; // the next open restarts polling
    }
    this.#schedulePoll(command === 'samStatus' ? 0 : this.#pollMs);
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#deframer.push(chunk)) {
      if (item.type === 'error') {
        this.#counts.badFrames++;
        this.#lastError = `reply frame dropped: ${item.reason}`;
        this.#log.debug({ driver: this.name, reason: item.reason }, 'SAM frame dropped');
        // A broken reply is the reply: fail the outstanding command now rather than at its timeout.
        if (this.#pending) this.#settle(null);
        continue;
      }
      const response = parseResponse(item.body);
      if (!this.#pending || !response || !fits(this.#pending.command, response)) {
        this.#counts.unexpectedFrames++;
        item.body.fill(0);
        continue;
      }
      this.#consecutiveTimeouts = 0;
      this.#settle(response);
      item.body.fill(0);
    }
  }

  /** Handles the reply (null: unusable) to the outstanding command. */
  #settle(response: SamResponse | null): void {
    const pending = this.#pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending = null;
    const sw3 = response?.sw3 ?? -1;
    switch (pending.command) {
      case 'samStatus':
        if (sw3 !== SW3.SUCCESS) {
          this.#counts.samErrors++;
          this.#lastError = response ? `SAM status ${hex(sw3)} ${sw3Name(sw3)}` : 'SAM status reply unusable';
          this.#log.warn({ driver: this.name, sw3: response ? hex(sw3) : null }, 'SAM status check failed');
        }
        this.#schedulePoll(0);
        return;
      case 'find':
        if (sw3 === SW3.FIND_OK) {
          this.#absent = 0;
          if (!this.#held) return this.#send('select');
        } else if (sw3 === SW3.NO_CARD) {
          this.#absent++;
          if (this.#absent >= this.#absentPolls) this.#cardGone();
        }
        this.#schedulePoll(this.#pollMs);
        return;
      case 'select':
        if (sw3 === SW3.SUCCESS) return this.#send('readText');
        this.#log.debug({ driver: this.name, sw3: response ? hex(sw3) : null }, 'select failed');
        this.#schedulePoll(this.#pollMs);
        return;
      case 'readText':
        if (sw3 === SW3.SUCCESS && response) this.#deliver(response.data);
        else this.#readFailed(response ? `card read failed (SW3 ${hex(sw3)} ${sw3Name(sw3)})` : 'card read reply corrupted');
        this.#schedulePoll(this.#pollMs);
        return;
    }
  }

  #deliver(data: Buffer): void {
    const parsed = parseReadData(data);
    data.fill(0);
    this.#held = true;
    this.#failedReads = 0;
    if (!parsed.ok) {
      this.#emitUnreadable(parsed.unreadable);
      return;
    }
    const hash = createHash('sha256').update(parsed.idNumber).digest('hex');
    const last = this.#lastCard;
    this.#lastCard = { hash, goneAtMs: null };
    if (last?.hash === hash && last.goneAtMs !== null && performance.now() - last.goneAtMs < this.#repeatHoldMs) {
      this.#counts.suppressedRepeats++;
      this.#log.debug({ driver: this.name }, 'same card again within repeatHoldMs; no scan');
      return;
    }
    this.#counts.scans++;
    const scan: Presented = parsed.maskedName === undefined ? { input: 'idcard', idNumber: parsed.idNumber } : { input: 'idcard', idNumber: parsed.idNumber, maskedName: parsed.maskedName };
    this.#log.debug({ driver: this.name }, 'card read');
    this.emit('scan', scan, { driver: this.name, atMs: performance.now() });
  }

  #readFailed(reason: string): void {
    this.#counts.readFailures++;
    this.#lastError = reason;
    if (++this.#failedReads < this.#readAttempts) return;
    this.#failedReads = 0;
    this.#held = true; // one unreadable per presentation; the card must leave before the next try
    this.#emitUnreadable(reason);
  }

  #emitUnreadable(reason: string): void {
    this.#counts.unreadable++;
    this.#log.debug({ driver: this.name, reason }, 'card unreadable');
    this.emit('scan', { input: 'idcard', unreadable: reason }, { driver: this.name, atMs: performance.now() });
  }

  #cardGone(): void {
    if (this.#held && this.#lastCard && this.#lastCard.goneAtMs === null) this.#lastCard.goneAtMs = performance.now();
    this.#held = false;
    this.#failedReads = 0;
  }
}

/** Whether a reply can answer the command (a late reply to an earlier, timed-out command cannot). */
function fits(command: Command, r: SamResponse): boolean {
  switch (command) {
    case 'find':
      return r.sw3 !== SW3.SUCCESS || r.data.length <= 8;
    case 'select':
      return r.sw3 !== SW3.FIND_OK && r.data.length <= 16;
    case 'samStatus':
      return r.sw3 !== SW3.FIND_OK && r.data.length <= 16;
    case 'readText':
      return r.sw3 !== SW3.FIND_OK && (r.sw3 !== SW3.SUCCESS || r.data.length >= 4);
  }
}
