/**
 * The gate's configuration file as a JSON Schema (draft 7, Ajv 8): the one source of truth for
 * validation, defaults, and the options table in docs/configuration.md (renderOptionsTable, kept in
 * sync by test/device/config.test.ts).
 *
 * Every leaf is built by a helper below that writes its range and default into its `description`,
 * so the schema, the error messages and the documentation can never disagree on them.
 */

export type Schema = Record<string, unknown>;

const absPath = { type: 'string', pattern: '^/', minLength: 2, maxLength: 4096 };

function describeDefault(d: unknown): string {
  return d === undefined ? 'required' : `default ${JSON.stringify(d)}`;
}

/** An integer option. `dflt` undefined: the option is required where it appears (or optional if the parent says so). */
function int(min: number, max: number, dflt: number | undefined, unit: string, text: string, optional = false): Schema {
  const range = `Range ${min}–${max}${unit ? ` ${unit}` : ''}`;
  return {
    type: 'integer',
    minimum: min,
    maximum: max,
    ...(dflt === undefined ? {} : { default: dflt }),
    description: `${text} ${range}; ${optional && dflt === undefined ? 'optional' : describeDefault(dflt)}.`,
  };
}

function oneOfValues(values: readonly string[], dflt: string | undefined, text: string): Schema {
  return {
    enum: [...values],
    ...(dflt === undefined ? {} : { default: dflt }),
    description: `${text} One of ${values.map((v) => `\`${v}\``).join(', ')}; ${describeDefault(dflt)}.`,
  };
}

function bool(dflt: boolean | undefined, text: string): Schema {
  return { type: 'boolean', ...(dflt === undefined ? {} : { default: dflt }), description: `${text} \`true\` or \`false\`; ${describeDefault(dflt)}.` };
}

function path(text: string, dflt?: string, optional = false): Schema {
  return {
    ...absPath,
    ...(dflt === undefined ? {} : { default: dflt }),
    description: `${text} Absolute path; ${optional && dflt === undefined ? 'optional' : describeDefault(dflt)}.`,
  };
}

function str(text: string, extra: Schema, dflt?: string, optional = false): Schema {
  return { type: 'string', ...extra, ...(dflt === undefined ? {} : { default: dflt }), description: `${text} ${optional && dflt === undefined ? 'Optional' : describeDefault(dflt).replace(/^./, (c) => c.toUpperCase())}.` };
}

function obj(description: string, properties: Record<string, Schema>, required: string[] = [], extra: Schema = {}): Schema {
  return { type: 'object', description, additionalProperties: false, properties, required, ...extra };
}

/** One `oneOf` branch of a device chosen by `type`: the `type` tag, then the branch's own options. */
function variant(type: string, description: string, properties: Record<string, Schema> = {}, required: string[] = []): Schema {
  return obj(description, { type: { const: type, description: `\`${type}\`. Required.` }, ...properties }, ['type', ...required]);
}

const BAUD = (dflt: number) => int(50, 4_000_000, dflt, 'baud', 'Serial speed (ignored by USB CDC-ACM devices).');
const LINE_MAX = 1023;
const gpioLine = (text: string) => int(0, LINE_MAX, undefined, '', `${text} GPIO line offset on the chip (BCM number on a Raspberry Pi header).`);
const output = (text: string) =>
  obj(
    text,
    {
      line: gpioLine('Output line.'),
      activeLow: bool(false, 'The output is on when the pin is driven low.'),
    },
    ['line'],
  );
const PULL = oneOfValues(
  ['up', 'down'],
  'up',
  'Which way the line is pulled (set it in config.txt, `gpio=27=ip,pu`: sysfs cannot): `up` for a contact to GND, `down` for a contact to 3.3 V.',
);
const hex4 = (text: string) => str(text, { pattern: '^(0x)?[0-9a-fA-F]{4}$' });

export const CONFIG_SCHEMA: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://passgate.invalid/config.schema.json',
  title: 'passgate gate configuration',
  type: 'object',
  additionalProperties: false,
  required: ['gpio'],
  properties: {
    $schema: { type: 'string', description: 'Editor hint; ignored. Optional.' },
    dataDir: path('The gate data directory (SQLite store, provisioned by `passgate init`; site and gate id come from it).', '/var/lib/passgate'),
    durability: oneOfValues(
      ['full', 'normal'],
      'full',
      'Store durability: `full` fsyncs every commit (a recorded event survives a power cut); `normal` survives a process crash only.',
    ),
    clock: obj(
      'Clock trust.',
      {
        trusted: oneOfValues(
          ['auto', 'system', 'never'],
          'auto',
          '`auto`: trust the clock while systemd-timesyncd or chrony reports it synchronised, or `clock.rtc` is present; `system`: always trust it; `never`: never (policy.clockUntrusted applies to every decision). In every mode a clock that reads earlier than the last known time (the latest recorded event or signed envelope) is untrusted.',
        ),
        rtc: path('A real-time clock device (`/dev/rtc0` on a Pi 5 with its battery): while present, `auto` trusts the clock without NTP.', undefined, true),
      },
      [],
      { default: {} },
    ),
    logging: obj(
      'Logs: pino JSON lines, one child logger per subsystem (`mod`). ID numbers, names and scanned text are never logged.',
      {
        level: oneOfValues(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'Least severe level written.'),
        output: oneOfValues(['journald', 'file'], 'journald', '`journald`: JSON lines on stdout, which systemd hands to the journal; `file`: append to `logging.file`.'),
        file: path('Log file for `output: file` (its directory must be writable: the unit grants /var/log/passgate).', '/var/log/passgate/passgate.log'),
      },
      [],
      { default: {} },
    ),
    scanners: {
      type: 'array',
      maxItems: 4,
      default: [],
      description: 'Code scanners, each `serial`, `hid` or `simulated` (by `type`). Range 0–4 items; default [].',
      items: {
        type: 'object',
        discriminator: { propertyName: 'type' },
        oneOf: [
          variant(
            'serial',
            'A scanner on a UART or USB CDC-ACM/VCP port, one code per line (PROTOCOL.md §9).',
            {
              path: path('Device path; prefer a stable udev link (/dev/qrscanner, /dev/serial/by-path/…).'),
              baud: BAUD(115_200),
              aimQrOnly: bool(false, 'Accept only codes whose AIM symbology identifier says QR (`]Q…`); other symbologies are refused as unreadable.'),
            },
            ['path'],
          ),
          variant(
            'hid',
            'A USB HID scanner (hidraw): HID-POS (usage page 0x8C) or keyboard emulation.',
            {
              vendorId: hex4('USB vendor id, four hex digits as lsusb prints them (`0c2e`).'),
              productId: hex4('USB product id, four hex digits (`0b61`).'),
              mode: oneOfValues(['pos', 'keyboard'], 'pos', '`pos`: HID-POS reports (preferred); `keyboard`: boot-keyboard reports (a keyboard wedge).'),
              layout: oneOfValues(['us', 'de', 'fr'], 'us', 'Keyboard layout the scanner emulates (`keyboard` mode only).'),
            },
            ['vendorId', 'productId'],
          ),
          variant('simulated', 'A simulated scanner (demo, bench): codes are injected in-process.'),
        ],
      },
    },
    idReader: {
      type: 'object',
      description: 'The resident ID card reader (GA/T 467 SAM, `serial`) or its `simulated` twin. Optional: no reader when absent.',
      discriminator: { propertyName: 'type' },
      oneOf: [
        variant(
          'serial',
          'A GA/T 467 SAM reader on a serial port (115200 8N1 by default).',
          {
            path: path('Device path; prefer the udev link by USB topology (/dev/idreader): CH340/PL2303 adapters have no serial number.'),
            baud: int(9600, 921_600, 115_200, 'baud', 'Serial speed of the SAM module (115200 by default; some run 57600, 38400, 19200 or 9600).'),
            pollMs: int(50, 5000, 250, 'ms', 'How often the reader is asked for a card.'),
          },
          ['path'],
        ),
        variant('simulated', 'A simulated ID reader.'),
      ],
    },
    camera: {
      type: 'object',
      description: 'A camera whose frames are searched for QR codes: frames from a `command` (MJPEG on stdout) or from image `files`. Optional: no camera when absent.',
      discriminator: { propertyName: 'type' },
      oneOf: [
        variant(
          'command',
          'Frames from a capture command that writes MJPEG to stdout, restarted with backoff when it exits.',
          {
            command: {
              type: 'array',
              minItems: 1,
              maxItems: 64,
              items: { type: 'string', minLength: 1, maxLength: 1024 },
              description: 'argv of the capture command, run without a shell (`["rpicam-vid", "-t", "0", "--codec", "mjpeg", "-o", "-"]`). Range 1–64 items; required.',
            },
            repeatGapMs: int(0, 60_000, 1500, 'ms', 'The same code seen again within this long is the same presentation.'),
          },
          ['command'],
        ),
        variant(
          'files',
          'Frames from image files (a test rig, the demo).',
          {
            files: {
              type: 'array',
              minItems: 1,
              maxItems: 1000,
              items: absPath,
              description: 'JPEG/PNG frames, absolute paths, shown in order. Range 1–1000 items; required.',
            },
            intervalMs: int(0, 60_000, 1000, 'ms', 'Pause between two frames.'),
            loop: bool(true, 'Start over after the last file.'),
            repeatGapMs: int(0, 60_000, 1500, 'ms', 'The same code seen again within this long is the same presentation.'),
          },
          ['files'],
        ),
      ],
    },
    gpio: obj(
      'GPIO wiring: the relay, the passage sensor, the fire alarm input, LEDs and buzzer. Required.',
      {
        simulated: bool(false, 'Use the in-memory GPIO twin instead of the chip (demo, CI): nothing is switched. The wiring below is still validated.'),
        chip: obj(
          'Which GPIO chip, when auto-detection is wrong: by default the header chip is found by its sysfs label (pinctrl-rp1, pinctrl-bcm2712, pinctrl-bcm2711, pinctrl-bcm2835) and its base read at run time. Optional.',
          {
            label: str('Chip label to use (`pinctrl-rp1` on a Pi 5, `pinctrl-bcm2711` on a Pi 4).', { minLength: 1, maxLength: 64 }, undefined, true),
            base: int(0, 4095, undefined, '', 'sysfs number of line 0, skipping discovery (512 and 571 have been seen on kernel 6.6).', true),
            sysfsRoot: str('Where the sysfs GPIO tree is (default `/sys/class/gpio`): a fake tree in a directory for fault tests, whose relay value file a test can read.', { minLength: 1, maxLength: 4096 }, undefined, true),
          },
        ),
        failMode: oneOfValues(
          ['secure', 'safe'],
          'secure',
          'How the lock is wired, i.e. what the gate does when the relay is de-energised. `secure`: locked (turnstile "Unlock" input, electric strike); idle de-energised, a pass energises the relay. `safe`: unlocked (maglock powered through the relay); idle energised, a pass de-energises it, and a dead Pi frees the door. Either way the fire alarm releases the gate.',
        ),
        relay: obj(
          'The relay that opens the gate. Required.',
          {
            line: gpioLine('Relay line.'),
            activeLow: bool(undefined, 'The relay board switches on when its IN pin is pulled low (most opto-isolated boards). Required, no default: a wrong guess opens the gate at idle.'),
          },
          ['line', 'activeLow'],
        ),
        passage: obj(
          "The turnstile's passage output (PASS A/B) or a door contact: ends a pass early. Optional: without it every pass ends at gate.passageTimeoutMs.",
          {
            line: gpioLine('Passage input line.'),
            normallyClosed: bool(true, 'The contact is closed at rest and opens on a passage (PERCo PASS outputs: closed in powered idle).'),
            pull: PULL,
            debounceMs: int(0, 1000, 20, 'ms', 'Debounce of the input.'),
          },
          ['line'],
        ),
        fireAlarm: obj(
          'The fire alarm contact: while it signals an alarm, the gate is released and held free. Optional.',
          {
            line: gpioLine('Fire alarm input line.'),
            normallyClosed: bool(true, 'The contact is closed in normal operation and opens on alarm, so a cut wire also releases (PERCo practice).'),
            pull: PULL,
            debounceMs: int(0, 1000, 50, 'ms', 'Debounce of the input.'),
          },
          ['line'],
        ),
        leds: obj(
          'Indicator LEDs. Optional.',
          {
            green: output('Green LED: open.'),
            red: output('Red LED: denied, fault.'),
            amber: output('Amber LED: held for a guard, busy, fault.'),
          },
        ),
        buzzer: output('Buzzer: a chirp on open, a long tone on deny. Optional.'),
      },
      ['relay'],
    ),
    gate: obj(
      'Gate timing and behaviour (device/gate/machine.ts).',
      {
        passageTimeoutMs: int(1000, 60_000, 5000, 'ms', 'How long a granted pass waits for the passage, from the pulse start (turnstiles wait 5 s themselves).'),
        maxPulseMs: int(50, 2000, 1000, 'ms', 'Cap on every relay pulse (policy.pulseMs, commands); the machine also enforces a hard 2000 ms.'),
        busy: oneOfValues(['queue', 'refuse'], 'queue', 'An open while a pass is running: wait in a queue, or be refused (the refused code still counts for policy.antiPassbackSeconds, so its holder cannot simply scan again: prefer `queue`).'),
        queueSize: int(1, 8, 1, 'passes', 'Bound of that queue.'),
        staffHoldTimeoutMs: int(5000, 600_000, 60_000, 'ms', 'How long a `staff` result waits for a guard before it expires.'),
        maxHolds: int(1, 64, 8, 'holds', 'Most passes held at once; the oldest expires to make room.'),
        passageDebounceMs: int(0, 2000, 200, 'ms', 'Passage signals closer together than this count once.'),
      },
      [],
      { default: {} },
    ),
    guardConsole: obj(
      "The guard's console (HTTP, or HTTPS with `tls`): held passes, live decisions, gate status, manual open, for guards signed in with `passgate guard add` accounts.",
      {
        enabled: bool(true, 'Serve the console.'),
        host: str('Listen address. Loopback by default (the Pi\'s own screen); to reach it over a network, listen on its address, list the names it is reached by in `allowedHosts`, and set `tls`.', { minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9.:_-]+$' }, '127.0.0.1'),
        port: int(1, 65_535, 8088, '', 'Listen port.'),
        allowedHosts: {
          type: 'array',
          maxItems: 16,
          uniqueItems: true,
          items: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:-]+$' },
          default: [],
          description:
            'Names (or addresses) the console answers to in the `Host` header, besides the listen address, `localhost`, `127.0.0.1` and `::1`; any other `Host` is refused before anything else (DNS rebinding). Range 0–16 items; default [].',
        },
        tls: obj(
          'Serve HTTPS: the session cookie is then `Secure`. Optional.',
          {
            cert: path('Certificate chain (PEM).'),
            key: path('Private key (PEM), readable by the passgate user only.'),
          },
          ['cert', 'key'],
        ),
        idleMinutes: int(1, 720, 15, 'min', 'A guard not using the console this long is signed out (the kiosk session excepted).'),
        maxConnections: int(8, 1024, 128, '', 'Open connections at most; when full, the oldest connection without a signed-in guard is dropped for a new one.'),
        kiosk: obj(
          "The gate's own touchscreen signs in as `guard` by opening `http://127.0.0.1:<port>/kiosk/<token>` from loopback (systemd/passgate-kiosk.service). Optional.",
          {
            guard: str('The guard account the kiosk signs in as (`passgate guard add`).', { minLength: 1, maxLength: 32, pattern: '^[a-z0-9][a-z0-9._-]{0,31}$' }),
            tokenFile: path('File whose first line is the kiosk token (at least 32 characters; `systemd/install.sh` makes one).'),
          },
          ['guard', 'tokenFile'],
        ),
      },
      [],
      { default: {} },
    ),
    mqtt: obj(
      'The backend link (PROTOCOL.md §7). Optional: without it the gate works offline only.',
      {
        url: str('Broker URL: `mqtts://host:8883` (TLS), `mqtt://host:1883`, `wss://…`, `ws://…`.', { pattern: '^(mqtts?|wss?)://[^\\s]+$', maxLength: 2048 }),
        tls: obj(
          'TLS files (PEM). Optional.',
          {
            ca: path("CA certificate that signed the broker's certificate.", undefined, true),
            cert: path("This gate's client certificate (mTLS).", undefined, true),
            key: path("This gate's client key (mTLS).", undefined, true),
          },
        ),
        username: str('MQTT username.', { minLength: 1, maxLength: 256 }, undefined, true),
        passwordFile: path('File whose first line is the MQTT password (kept out of this file).', undefined, true),
        keepaliveSeconds: int(5, 600, 30, 's', 'MQTT keepalive; the broker declares the gate lost after 1.5× this.'),
      },
      ['url'],
    ),
    metrics: obj(
      'Prometheus metrics at `http://host:port/metrics` (`passgate_` series: decisions, latencies, outbox, documents, clock, broker, refusals). Off by default.',
      {
        enabled: bool(false, 'Serve /metrics.'),
        host: str('Listen address. Loopback by default: put a scraper on the gate or a reverse proxy in front.', { minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9.:_-]+$' }, '127.0.0.1'),
        port: int(1, 65_535, 9464, '', 'Listen port (9464: the Prometheus exporter convention).'),
      },
      [],
      { default: {} },
    ),
    outbox: obj(
      'The event outbox.',
      {
        maxEvents: int(100, 100_000_000, 1_000_000, 'events', 'Bounded retention: beyond this many unacknowledged events the oldest are dropped, and the drop is itself recorded as an event.'),
      },
      [],
      { default: {} },
    ),
  },
};

// --- documentation ------------------------------------------------------------------------------

export interface OptionRow {
  path: string;
  type: string;
  range: string;
  dflt: string;
  description: string;
}

/** Every option, leaves and sections, depth first, as the docs table lists them. */
export function optionRows(schema: Schema = CONFIG_SCHEMA): OptionRow[] {
  const rows: OptionRow[] = [];
  walk(schema, '', rows);
  return rows;
}

function walk(s: Schema, at: string, rows: OptionRow[]): void {
  if (at !== '') rows.push(row(s, at));
  for (const [k, v] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) {
    if (k === '$schema') continue;
    walk(v, at === '' ? k : `${at}.${k}`, rows);
  }
  // Variants chosen by `type` (an object's, or an array's items'): `scanners[type=serial].path`.
  const owner = s.type === 'array' ? (s.items as Schema) : s;
  const variants = owner.oneOf as Schema[] | undefined;
  if (!variants) return;
  const prefix = s.type === 'array' ? `${at}[]` : at;
  const tags = variants.map((v) => ((v.properties as Record<string, Schema>).type as { const: string }).const);
  rows.push({
    path: `${prefix}.type`,
    type: 'enum',
    range: tags.map((t) => `\`${t}\``).join(', '),
    dflt: '',
    description: 'Which kind; selects the options listed under it. Required.',
  });
  variants.forEach((v, i) => {
    for (const [k, p] of Object.entries(v.properties as Record<string, Schema>)) {
      if (k !== 'type') walk(p, `${at}[type=${tags[i]}].${k}`, rows);
    }
  });
}

function row(s: Schema, p: string): OptionRow {
  const type = s.enum ? 'enum' : s.const !== undefined ? 'const' : s.oneOf ? 'object' : String(s.type ?? '');
  let range = '';
  if (s.enum) range = (s.enum as string[]).map((v) => `\`${v}\``).join(', ');
  else if (s.minimum !== undefined || s.maximum !== undefined) range = `${s.minimum ?? ''}–${s.maximum ?? ''}`;
  else if (s.pattern === '^/') range = 'absolute path';
  else if (s.pattern) range = `\`${String(s.pattern)}\``;
  else if (s.type === 'array') range = `${s.minItems ?? 0}–${s.maxItems ?? '∞'} items`;
  const dflt = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
  return { path: p, type, range, dflt, description: String(s.description ?? '') };
}

export const DOC_BEGIN = '<!-- BEGIN GENERATED OPTIONS (device/config-schema.ts; UPDATE_DOCS=1 npx vitest run test/device/config.test.ts) -->';
export const DOC_END = '<!-- END GENERATED OPTIONS -->';

export function renderOptionsTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| option | type | range / values | default | description |', '|---|---|---|---|---|'];
  for (const r of optionRows()) lines.push(`| \`${r.path}\` | ${r.type} | ${cell(r.range)} | ${cell(r.dflt)} | ${cell(r.description)} |`);
  return `${DOC_BEGIN}\n${lines.join('\n')}\n${DOC_END}`;
}
