/**
 * `passgate provision` on a real terminal, as a technician at the gate runs it: `script` gives the
 * built CLI a pseudo-terminal (isatty true, line discipline echo on until the program turns it off);
 * each answer is typed only once its prompt is on the screen. The devices come from a fake root
 * (`--root-dir`), and what provision wrote is read back from there.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../device/config.js';
import { GateStore } from '../../device/store/store.js';
import { sharedFederation } from '../helpers/gate.js';
import { fakeGateDevices } from '../helpers/devices.js';
import { CTRL_C, CTRL_D, Terminal, hasTerminal } from '../helpers/terminal.js';

const PASSGATE = 'dist/scripts/passgate.js';
let root: string;
let terminal: Terminal | undefined;

/** `passgate provision …` under the test root, on a terminal. */
const provisionOn = (args: string[]) => new Terminal([process.execPath, PASSGATE, 'provision', '--root-dir', root, '--simulated-gpio', ...args]);

const PROMPT = {
  site: 'site id: ',
  gate: 'gate id: ',
  root: 'federation root public key (base64url SPKI): ',
  broker: 'MQTT broker URL (empty: offline gate): ',
  username: 'MQTT username (empty: none or client certificate): ',
  password: 'MQTT password (not shown): ',
  again: 'again: ',
  scanner: 'which is the code scanner? number, "simulated" or "none" [none]: ',
  idReader: 'which is the ID-card reader? number, "simulated" or "none" [none]: ',
  relayLine: 'relay GPIO line (BCM) [17]: ',
  activeHigh: 'does the relay board switch on with its input HIGH? (most switch on LOW) [no]: ',
};

const at = (p: string) => join(root, p);

beforeEach(() => {
  if (!existsSync(PASSGATE)) throw new Error(`${PASSGATE} is missing: build first (npm test does)`);
  root = mkdtempSync(join(tmpdir(), 'passgate-prompts-'));
  fakeGateDevices(root);
});

afterEach(async () => {
  await terminal?.stop();
  terminal = undefined;
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!hasTerminal)('passgate provision on a terminal', () => {
  it('asks for each value, lists the devices once, re-asks a refused answer, reads the password without echo, prints the next steps', async () => {
    const t = (terminal = provisionOn([]));
    await t.answer(PROMPT.site, 'metro 2');
    await t.see('site id "metro 2" must be 1–64 of A-Z a-z 0-9 _ -');
    await t.answer(PROMPT.site, 'metro-2');
    await t.answer(PROMPT.gate, '');
    await t.see('a gate id is needed');
    await t.answer(PROMPT.gate, 'north-07');
    await t.answer(PROMPT.root, 'not-a-key');
    await t.see('is not a federation root public key');
    await t.answer(PROMPT.root, sharedFederation().rootSpki());
    await t.answer(PROMPT.broker, 'http://broker.example');
    await t.see('/mqtt/url');
    await t.answer(PROMPT.broker, 'mqtts://broker.example:8883');
    await t.answer(PROMPT.username, 'north-07');
    await t.answer(PROMPT.password, 'Typed-Beside-Others-1');
    await t.answer(PROMPT.again, 'Typed-Beside-Others-2');
    await t.see('the two passwords differ');
    await t.answer(PROMPT.password, 'Typed-Beside-Others-1');
    await t.answer(PROMPT.again, 'Typed-Beside-Others-1');
    await t.see(
      [
        'devices found:',
        '  1. /dev/serial/by-id/usb-Honeywell_Scanner_SN123-if00 (ttyACM0, USB 0c2e:0b61, Honeywell Scanner, serial SN123)',
        '  2. /dev/serial/by-id/usb-USB_Serial-if00 (ttyUSB0, USB 1a86:7523, USB Serial)',
        '  3. /dev/hidraw0 (hidraw0, USB 05e0:1200, Zebra HID)',
      ].join('\n'),
    );
    await t.answer(PROMPT.scanner, '4');
    await t.see('4 is not a device number (1–3)');
    await t.answer(PROMPT.scanner, '1');
    await t.answer(PROMPT.idReader, '1');
    await t.see('is the code scanner already');
    await t.answer(PROMPT.idReader, '3');
    await t.see('HID');
    await t.answer(PROMPT.idReader, '2');
    await t.answer(PROMPT.relayLine, 'seventeen');
    await t.see('seventeen is not a GPIO line number (0–1023)');
    await t.answer(PROMPT.relayLine, '');
    await t.answer(PROMPT.activeHigh, 'maybe');
    await t.see('yes or no');
    await t.answer(PROMPT.activeHigh, '');
    await t.see('next:');
    expect(await t.status()).toBe(0);

    const screen = t.screen;
    expect(screen).not.toContain('Typed-Beside-Others');
    expect(screen.match(/devices found:/g)).toHaveLength(1);
    expect(screen).toContain(
      [
        'next:',
        '  udevadm control --reload && udevadm trigger   # the /dev/qrscanner and /dev/idreader links',
        '  passgate doctor --config /etc/passgate/config.json   # every check should say OK',
        '  passgate selftest --config /etc/passgate/config.json   # relay click, LEDs, one scan, one card (service stopped)',
        '  systemctl enable --now passgate',
      ].join('\n'),
    );

    const store = GateStore.open(at('var/lib/passgate'));
    expect(store.identity()).toMatchObject({ site: 'metro-2', gate: 'north-07', roots: [sharedFederation().rootSpki()] });
    store.close();
    const config = loadConfig(at('etc/passgate/config.json'));
    expect(config.scanners).toEqual([{ type: 'serial', path: '/dev/qrscanner', baud: 115200, aimQrOnly: false }]);
    expect(config.idReader).toMatchObject({ type: 'serial', path: '/dev/idreader' });
    expect(config.gpio.relay).toEqual({ line: 17, activeLow: true });
    expect(config.mqtt).toMatchObject({ url: 'mqtts://broker.example:8883', username: 'north-07', passwordFile: '/etc/passgate/mqtt-password' });
    expect(readFileSync(at('etc/passgate/mqtt-password'), 'utf8')).toBe('Typed-Beside-Others-1\n');
    const rules = readFileSync(at('etc/udev/rules.d/99-passgate-devices.rules'), 'utf8');
    expect(rules).toContain('ATTRS{serial}=="SN123", SYMLINK+="qrscanner"');
    expect(rules).toContain('ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", SYMLINK+="idreader"');
  });

  it('takes the defaults on empty answers: an offline gate, no devices; "simulated" by name', async () => {
    const t = (terminal = provisionOn(['--config', '/etc/gate/config.json', '--data-dir', '/srv/gate']));
    await t.answer(PROMPT.site, 'clinic-1');
    await t.answer(PROMPT.gate, 'front');
    await t.answer(PROMPT.root, sharedFederation().rootSpki());
    await t.answer(PROMPT.broker, '');
    await t.answer(PROMPT.scanner, 'simulated');
    await t.answer(PROMPT.idReader, '');
    await t.answer(PROMPT.relayLine, '');
    await t.answer(PROMPT.activeHigh, 'yes');
    await t.see('next:');
    expect(await t.status()).toBe(0);
    expect(t.screen).not.toContain(PROMPT.username);
    expect(t.screen).not.toContain('udevadm');
    expect(t.screen).toContain('passgate doctor --config /etc/gate/config.json');

    const config = loadConfig(at('etc/gate/config.json'));
    expect(config.dataDir).toBe('/srv/gate');
    expect(config.scanners).toEqual([{ type: 'simulated' }]);
    expect(config.idReader).toBeUndefined();
    expect(config.mqtt).toBeUndefined();
    expect(config.gpio.relay).toEqual({ line: 17, activeLow: false });
    expect(existsSync(at('etc/udev'))).toBe(false);
    expect(existsSync(at('etc/gate/mqtt-password'))).toBe(false);
    expect(existsSync(at('srv/gate/passgate.db'))).toBe(true);
  });

  it('asks only for what the flags left out', async () => {
    const t = (terminal = provisionOn(['--site', 'metro-2', '--root', sharedFederation().rootSpki(), '--scanner', 'none', '--relay-line', '22']));
    await t.answer(PROMPT.gate, 'north-07');
    await t.answer(PROMPT.broker, '');
    await t.answer(PROMPT.idReader, 'none');
    await t.answer(PROMPT.activeHigh, 'n');
    await t.see('next:');
    expect(await t.status()).toBe(0);
    for (const p of [PROMPT.site, PROMPT.root, PROMPT.scanner, 'relay GPIO line']) expect(t.screen).not.toContain(p);
    expect(loadConfig(at('etc/passgate/config.json')).gpio.relay).toEqual({ line: 22, activeLow: true });
  });

  it('a fully flagged run on a terminal asks nothing (--relay-active-low, --username "")', async () => {
    const t = (terminal = provisionOn(['--site', 'metro-2', '--gate', 'north-07', '--root', sharedFederation().rootSpki(), '--broker', 'mqtts://broker.example:8883', '--username', '', '--scanner', 'none', '--id-reader', 'none', '--relay-line', '22', '--relay-active-low']));
    await t.see('next:');
    expect(await t.status()).toBe(0);
    expect(t.screen).not.toMatch(/\? |: $|\]: /m);
    const config = loadConfig(at('etc/passgate/config.json'));
    expect(config.gpio.relay).toEqual({ line: 22, activeLow: true });
    expect(config.mqtt).toMatchObject({ url: 'mqtts://broker.example:8883' });
    expect(config.mqtt?.username).toBeUndefined();
  });

  it('a data directory that holds another gate is refused right after the gate id, before any other question', async () => {
    const first = (terminal = provisionOn(['--site', 'metro-2', '--gate', 'north-07', '--root', sharedFederation().rootSpki(), '--broker', '', '--scanner', 'none', '--id-reader', 'none', '--relay-line', '17', '--relay-active-low']));
    await first.see('next:');
    expect(await first.status()).toBe(0);
    const t = (terminal = provisionOn([]));
    await t.answer(PROMPT.site, 'metro-2');
    await t.answer(PROMPT.gate, 'south-01');
    expect(await t.status()).toBe(73);
    expect(t.screen.trimEnd().split('\n').at(-1)).toBe('passgate: EXISTS: /var/lib/passgate already holds gate metro-2/north-07: refusing to replace a gate identity without --force');
    expect(t.screen).not.toContain(PROMPT.root);
    const store = GateStore.open(at('var/lib/passgate'));
    expect(store.identity()).toMatchObject({ site: 'metro-2', gate: 'north-07' });
    store.close();
  });

  for (const [what, unanswered, keys] of [
    ['Ctrl-D at a question', 'gate id', async (t: Terminal) => {
      await t.answer(PROMPT.site, 'metro-2');
      await t.press(PROMPT.gate, CTRL_D);
    }],
    ['Ctrl-C at the device choice', 'code scanner', async (t: Terminal) => {
      await t.answer(PROMPT.site, 'metro-2');
      await t.answer(PROMPT.gate, 'north-07');
      await t.answer(PROMPT.root, sharedFederation().rootSpki());
      await t.answer(PROMPT.broker, '');
      await t.press(PROMPT.scanner, CTRL_C);
    }],
    ['Ctrl-D at the password', 'MQTT password', async (t: Terminal) => {
      await t.answer(PROMPT.site, 'metro-2');
      await t.answer(PROMPT.gate, 'north-07');
      await t.answer(PROMPT.root, sharedFederation().rootSpki());
      await t.answer(PROMPT.broker, 'mqtts://broker.example:8883');
      await t.answer(PROMPT.username, 'north-07');
      await t.press(PROMPT.password, `half${CTRL_D}`);
    }],
    ['the terminal input closed', 'gate id', async (t: Terminal) => {
      await t.answer(PROMPT.site, 'metro-2');
      await t.see(PROMPT.gate);
      t.child.stdin.end();
    }],
  ] as const) {
    it(`${what}: one line saying nothing was written, exit 64, nothing written`, async () => {
      const t = (terminal = provisionOn([]));
      await keys(t);
      expect(await t.status()).toBe(64);
      const last = t.screen.trimEnd().split('\n').at(-1)!;
      expect(last).toBe(`passgate: ABORTED: no ${unanswered} given: nothing was written`);
      expect(t.screen).not.toMatch(/\n\s+at |AbortError|ABORT_ERR/);
      expect(readdirSync(root).sort()).toEqual(['dev', 'sys']);
    });
  }
});
