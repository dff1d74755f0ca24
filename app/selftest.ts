/**
 * `passgate selftest`: with the service stopped, drives the gate's own hardware through the same
 * drivers the service uses, and asks the technician what a program cannot see: the relay pulses (did
 * it click?), each LED lights (did it?), then it waits a set time for one code scan and one card read.
 * Each step is OK / WARN / FAIL; exit status as doctor (0, 1, 2).
 *
 * Nothing is recorded and the scanned text is never shown: only what kind of input arrived and its
 * length (a code could carry a name).
 */
import { loadConfig, ConfigError, type Config } from '../device/config.js';
import { createLogger } from '../device/log.js';
import { buildGpio, buildInputs, closeGpio, type GpioParts } from '../device/main.js';
import type { ScanSource } from '../device/service.js';
import type { Presented } from '../device/core/types.js';
import type { IndicatorPattern } from '../device/gate/machine.js';
import type { MemoryGpio } from '../drivers/gpio/index.js';
import type { RunCommand } from '../device/clock-trust.js';
import type { CheckResult } from './doctor.js';

export interface SelftestEnv {
  /** Asks a yes/no question; resolves true for yes. */
  confirm(question: string): Promise<boolean>;
  /** Tells the technician what to do next. */
  say(text: string): void;
  run: RunCommand;
  unit: string;
  /** How long to wait for a scan and for a card. */
  waitMs: number;
  pulseMs: number;
  /** The in-memory GPIO to use when the config says simulated (tests watch the relay on it). */
  memory?: MemoryGpio;
}

const LED_PATTERNS: { channel: 'green' | 'red' | 'amber'; pattern: IndicatorPattern }[] = [
  { channel: 'green', pattern: 'open' },
  { channel: 'red', pattern: 'deny' },
  { channel: 'amber', pattern: 'hold' },
];

export async function runSelftest(configFile: string, env: SelftestEnv): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (r: CheckResult) => {
    results.push(r);
    env.say(`${r.level.padEnd(4)}  ${r.check}: ${r.detail}${r.fix ? `\n      fix: ${r.fix}` : ''}`);
  };
  let config: Config;
  try {
    config = loadConfig(configFile);
  } catch (e) {
    report({ check: 'config', level: 'FAIL', detail: e instanceof ConfigError ? e.problems.join('; ') : (e as Error).message, fix: `passgate doctor --config ${configFile}` });
    return results;
  }

  const active = await env.run('systemctl', ['is-active', env.unit]);
  if (active?.trim() === 'active') {
    report({ check: 'service stopped', level: 'FAIL', detail: `${env.unit} is running: it holds the relay and the devices`, fix: `systemctl stop ${env.unit}, then run selftest again` });
    return results;
  }
  report(active === null ? { check: 'service stopped', level: 'WARN', detail: 'cannot tell here (no systemctl): make sure the service is not running', fix: 'stop the service if it runs' } : { check: 'service stopped', level: 'OK', detail: `${env.unit} is ${active.trim() || 'inactive'}` });

  const log = createLogger({ level: 'silent', output: 'journald' });
  let gpio: GpioParts;
  try {
    gpio = await buildGpio(config.gpio, log, env.memory);
  } catch (e) {
    report({ check: 'relay', level: 'FAIL', detail: `GPIO could not be opened: ${(e as Error).message}`, fix: 'passgate doctor (gpio check)' });
    return results;
  }
  try {
    // Relay: one pulse of pulseMs, then the safe level again, whatever happens.
    try {
      await gpio.relay.set('active');
      await new Promise((r) => setTimeout(r, env.pulseMs));
    } finally {
      await gpio.relay.set('inactive');
    }
    const clicked = await env.confirm(`The relay on line ${config.gpio.relay.line} pulsed for ${env.pulseMs} ms. Did it click (and the gate unlock)?`);
    report(clicked ? { check: 'relay', level: 'OK', detail: `line ${config.gpio.relay.line} pulsed, click confirmed` } : { check: 'relay', level: 'FAIL', detail: `line ${config.gpio.relay.line} pulsed, no click heard`, fix: 'check the relay board wiring (VCC, GND, IN on the configured line), its jumper, and gpio.relay.activeLow' });

    for (const { channel, pattern } of LED_PATTERNS) {
      if (!config.gpio.leds?.[channel]) continue;
      await gpio.indicator?.show(pattern);
      const lit = await env.confirm(`Is the ${channel} LED (line ${config.gpio.leds[channel]!.line}) lit?`);
      await gpio.indicator?.show('off');
      report(lit ? { check: `${channel} LED`, level: 'OK', detail: 'lit, confirmed' } : { check: `${channel} LED`, level: 'FAIL', detail: 'not seen lit', fix: `check the LED's wiring and gpio.leds.${channel}.activeLow` });
    }
    if (!config.gpio.leds) report({ check: 'LEDs', level: 'OK', detail: 'none configured' });

    // One code scan and one card read, each within waitMs.
    const inputs = await buildInputs(config, log);
    try {
      for (const input of inputs) await input.start?.();
      const scanners = inputs.filter((i) => i.name !== 'idreader');
      const reader = inputs.find((i) => i.name === 'idreader');
      if (scanners.length) report(await waitForInput(scanners, 'qr', `Scan any QR code at the scanner within ${Math.round(env.waitMs / 1000)} s.`, env));
      else report({ check: 'code scan', level: 'WARN', detail: 'no scanner configured', fix: 'add one (passgate provision --scanner …)' });
      if (reader) report(await waitForInput([reader], 'idcard', `Put an ID card on the reader within ${Math.round(env.waitMs / 1000)} s.`, env));
    } finally {
      for (const input of inputs) await Promise.resolve(input.stop?.()).catch(() => {});
    }
  } finally {
    await closeGpio(gpio, log);
  }
  return results;
}

async function waitForInput(sources: ScanSource[], kind: 'qr' | 'idcard', prompt: string, env: SelftestEnv): Promise<CheckResult> {
  const check = kind === 'qr' ? 'code scan' : 'card read';
  env.say(prompt);
  const got = await new Promise<Presented | null>((resolve) => {
    const listeners: [ScanSource, (p: Presented) => void][] = [];
    const done = (p: Presented | null) => {
      clearTimeout(timer);
      for (const [s, l] of listeners) s.off?.('scan', l);
      resolve(p);
    };
    const timer = setTimeout(() => done(null), env.waitMs);
    for (const s of sources) {
      const l = (p: Presented) => done(p);
      listeners.push([s, l]);
      s.on('scan', l);
    }
  });
  if (!got) return { check, level: 'FAIL', detail: `nothing arrived within ${Math.round(env.waitMs / 1000)} s`, fix: kind === 'qr' ? 'check the scanner is in serial/USB-CDC mode with a CR suffix, its udev link and baud rate' : 'check the reader is powered, its udev link and baud rate (115200 for most SAM modules)' };
  if ('unreadable' in got) return { check, level: 'WARN', detail: `something arrived but could not be read (${got.unreadable})`, fix: 'check the scanner suffix and AIM settings, or the reader (docs/configuration.md)' };
  const size = 'text' in got ? `${got.text.length} characters` : 'an ID number';
  return { check, level: 'OK', detail: `${got.input === 'qr' ? 'a code' : 'a card'} arrived (${size}; contents not shown)` };
}
