#!/usr/bin/env node
/**
 * The gate service's process: `node dist/app/main.js --config /etc/passgate/config.json`.
 *
 * Arguments, signals and crashes only; the gate itself is built by compose (app/compose.ts) and
 * systemd is spoken to by app/systemd.ts. A bad config is refused before anything starts (one line
 * per fault, exit 78), as is a data directory `passgate init` never provisioned. SIGTERM/SIGINT stop
 * gracefully (relay safe first); an uncaught exception releases the relay at once and exits 70 for
 * systemd to restart us.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../device/config.js';
import { createLogger } from '../device/log.js';
import { DB_FILE } from '../device/store/store.js';
import { EXIT_STORE, dataDirProblem, openServiceStore } from '../device/store/startup.js';
import { describeStoreError } from '../device/store/integrity.js';
import { SystemClock } from '../device/clock.js';
import { isPassgateError } from '../base/errors.js';
import { StartRefused, compose, type Gate } from './compose.js';
import { notify, startWatchdog } from './systemd.js';
import { linkToBus, startMetrics } from './metrics.js';
import { TrustingClock } from '../device/clock-trust.js';

export const EXIT_CONFIG = 78; // EX_CONFIG: the unit's RestartPreventExitStatus
export const EXIT_SOFTWARE = 70; // EX_SOFTWARE: crash, systemd restarts us

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
    const unwritable = provisioned ? dataDirProblem(config.dataDir) : null;
    process.stdout.write(`passgate: ${configFile} is valid; ${config.dataDir} ${provisioned ? (unwritable ? `holds a gate store but ${unwritable}` : 'holds a gate store') : 'is NOT provisioned (passgate init)'}\n`);
    process.exit(!provisioned ? EXIT_CONFIG : unwritable ? EXIT_STORE : 0);
  }
  const root = createLogger(config.logging);
  const log = root.child({ mod: 'main' });

  // --- process-level safety: the parts install no handlers, main does -----------------------------
  // Until compose returns nothing can have moved the relay (it is claimed at its safe level first,
  // and only start() lets a scan through): a crash before then needs no release of ours, and
  // ExecStopPost forces the line anyway.
  let gate: Gate | null = null;
  let shuttingDown = false;
  let stopWatchdog: () => void = () => {};
  const crash = (kind: string) => (err: unknown) => {
    try {
      gate?.releaseNow();
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

  async function shutdown(reason: string, code: number): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ reason }, 'stopping');
    notify('STOPPING=1');
    stopWatchdog();
    const force = setTimeout(() => {
      log.error({ reason }, 'shutdown took too long: releasing the relay and exiting');
      gate?.releaseNow();
      process.exit(code || EXIT_SOFTWARE);
    }, 8000);
    force.unref();
    await gate?.stop(); // relay safe first
    store.close();
    clearTimeout(force);
    root.flush();
    process.exit(code);
  }

  // Opened here, not by compose: the service's store is checked, repaired or refused with an exit
  // code systemd understands (device/store/startup.ts) before any part is built.
  const store = openServiceStore({ dataDir: config.dataDir, durability: config.durability, clock: new SystemClock(config.clock.trusted === 'system'), log });
  try {
    gate = await compose(config, { store, log: root, restart: (why) => void shutdown(why, 0) });
  } catch (e) {
    if (!(e instanceof StartRefused)) throw e;
    log.fatal({ dataDir: config.dataDir }, e.message);
    process.stderr.write(`passgate: refusing to start: ${e.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));

  const { clock } = gate;
  if (clock instanceof TrustingClock) await clock.start(60_000, (s) => log.warn({ trusted: s.trusted, reason: s.reason }, 'clock trust changed'));
  await gate.start();
  const { link, bus, service: running } = gate;
  if (link) linkToBus(link, bus);
  const metrics = await startMetrics(config.metrics, { bus, status: () => running.status(), ...(link ? { brokerConnected: () => link.connected } : {}) });
  if (metrics) log.info({ url: metrics.url }, 'metrics served');
  const identity = gate.store.identity()!;
  log.info({ site: identity.site, gate: identity.gate, config: configFile }, 'ready');
  notify('READY=1', `STATUS=gate ${identity.site}/${identity.gate} ready`);
  const service = gate.service;
  stopWatchdog = startWatchdog(() => service.health(), log);
}

// --- entry -------------------------------------------------------------------------------------------

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isEntry) {
  main().catch((e: unknown) => {
    if (e && typeof e === 'object' && 'code' in e && String((e as { code: unknown }).code).startsWith('commander.')) {
      process.exit((e as { exitCode?: number }).exitCode ?? EXIT_CONFIG);
    }
    const sqlite = String((e as { code?: unknown })?.code ?? '').startsWith('SQLITE_');
    process.stderr.write(`passgate: refusing to start: ${isPassgateError(e) ? e.message : sqlite ? describeStoreError(e, '(data directory)').message : ((e as Error).stack ?? String(e))}\n`);
    process.exit(isPassgateError(e) ? EXIT_CONFIG : sqlite ? EXIT_STORE : EXIT_SOFTWARE);
  });
}
