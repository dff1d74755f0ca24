/**
 * Transport variants: a broker that refuses MQTT 5 (aedes speaks 3.1.1 only) gets the whole API over
 * 3.1.1 — documents, events and acks, and look-ups without response topics; and mutual TLS to a
 * mosquitto that requires client certificates.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chmodSync, readdirSync } from 'node:fs';
import { startEmbeddedBroker } from '../../scripts/backend/embedded-broker.js';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { idNumber, makeBackend, removeTempDirs, tempDir, testFederation } from '../helpers/sync.js';
import { holderHandleOf } from '../../scripts/lib/issuer.js';
import { waitFor } from '../helpers/wait.js';
import { makeGate } from '../helpers/gate.js';

const fed = testFederation();
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  removeTempDirs();
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('protocol versions and TLS', () => {
  it('falls back to MQTT 3.1.1 when the broker refuses v5, and everything still works', async () => {
    const broker = await startEmbeddedBroker();
    cleanups.push(() => broker.close());
    const backend = makeBackend({ brokerUrl: broker.url, federation: fed, site: 'v311', protocolVersion: 4 });
    await backend.start();
    cleanups.push(() => backend.stop());
    await backend.publishTrust(1);
    await backend.publishPolicy({ version: 1, unknownHolder: 'online', lookupTimeoutMs: 1000, antiPassbackSeconds: 0 });
    await backend.publishDelta('holders', { put: [['f'.repeat(32), 1, 1_764_000_000, 1_900_000_000]] });

    const gate = await makeGate({ fed, mqtt: { brokerUrl: broker.url, site: 'v311', gate: 'old' } });
    cleanups.push(() => gate.close());
    gate.link.start();
    await waitFor(() => gate.link.connected, { what: 'a connection', timeoutMs: 10_000 });
    expect(gate.link.protocolVersion).toBe(4);
    await waitFor(() => gate.store.document('policy')?.version === 1 && gate.store.meta('holders').version === 1, { what: 'documents and lists' });

    // Look-up without response topic or correlation data: the id in the body is all there is.
    const id = idNumber('11010519491231002');
    backend.setHolder(holderHandleOf(fed.holderKey, id), 1);
    expect((await gate.verifier.verify({ input: 'idcard', idNumber: id })).decision).toMatchObject({ result: 'open', reason: 'OK' });

    // Events and their ack; commands and their replies.
    await expect(backend.sendCommand('old', 'reload')).resolves.toMatchObject({ ok: true });
    await waitFor(() => backend.cursor('old').upTo === 2, { what: 'both events acked' });
    await waitFor(() => gate.store.outboxBounds().firstSeq === null, { what: 'the outbox to empty' });
    expect(gate.log.entries.some((e) => e.msg === 'broker refused MQTT 5; falling back to MQTT 3.1.1')).toBe(true);
  });

  it.skipIf(!hasOpenssl())('connects with mutual TLS, and not without a client certificate', async () => {
    const dir = tempDir('passgate-tls-');
    const f = (n: string) => join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=passgate test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    for (const [name, cn, ext] of [
      ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1'],
      ['client', 'tls-gate', 'extendedKeyUsage=clientAuth'],
    ] as const) {
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
      ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', writeExt(dir, name, ext), '-out', f(`${name}.pem`));
    }
    // Started as root, mosquitto drops to its own user before reading these: let it.
    chmodSync(dir, 0o755);
    for (const n of readdirSync(dir)) chmodSync(f(n), 0o644);
    const tlsPort = await freePort();
    const broker = await startMosquitto({
      extraConfig: [
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${f('ca.pem')}`,
        `certfile ${f('server.pem')}`,
        `keyfile ${f('server.key')}`,
        'require_certificate true',
        'use_identity_as_username true',
      ],
    });
    cleanups.push(() => broker.dispose());
    const url = `mqtts://127.0.0.1:${tlsPort}`;

    const good = await makeGate({ fed, mqtt: { brokerUrl: url, site: 'tls', gate: 'tls-gate', broker: { url, tls: { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') }, reconnect: { minMs: 100, maxMs: 500 } } } });
    cleanups.push(() => good.close());
    good.link.start();
    await waitFor(() => good.link.connected, { what: 'the mTLS connection' });
    expect(good.link.protocolVersion).toBe(5);

    const bad = await makeGate({ fed, mqtt: { brokerUrl: url, site: 'tls', gate: 'no-cert', broker: { url, tls: { ca: f('ca.pem') }, reconnect: { minMs: 100, maxMs: 500 } } } });
    cleanups.push(() => bad.close());
    bad.link.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(bad.link.connected).toBe(false);
    // Refused at the TLS layer, so it must not have concluded that the broker dislikes MQTT 5.
    expect(bad.log.entries.some((e) => e.msg?.includes('falling back'))).toBe(false);
    expect(bad.log.entries.some((e) => String((e.obj as { code?: unknown }).code).includes('CERTIFICATE_REQUIRED'))).toBe(true);
  });
});

function writeExt(dir: string, name: string, line: string): string {
  const p = join(dir, `${name}.ext`);
  execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', line, p]);
  return p;
}
