/**
 * Defect 1: decisions are taken one after another in arrival order, so the anti-passback memory a
 * decision reads is the one the previous decision wrote. Driven through the real serial scanner
 * (binding-mock and a socat pty) with both copies of a code in ONE write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SerialScanner } from '../../drivers/serial-scanner/scanner.js';
import { makeGate, sharedFederation, type TestGate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';
import { issueHp1 } from '../../scripts/lib/issuer.js';
import { T0 } from '../helpers/gate.js';
import { createTransport, TRANSPORT_KINDS, type SerialTransport } from '../drivers/serial/transports.js';
import type { LookupAnswer } from '../../device/core/ports.js';

let gate: TestGate | undefined;
let transport: SerialTransport | undefined;

afterEach(async () => {
  await gate?.close();
  await transport?.dispose();
  transport = gate = undefined;
});

async function run(kind: 'mock' | 'pty', text: string, copies: number) {
  transport = await createTransport(kind);
  const scanner = new SerialScanner({ binding: transport.binding, path: transport.path, name: 'scanner0' });
  const g = (gate = await makeGate({ inputs: [scanner] }));
  g.freshLists();
  await g.parts.start();
  await waitFor(() => scanner.health().state === 'connected', { what: 'scanner connected', timeoutMs: 3000 });
  await transport.device.write(Buffer.from(`${text}\r\n`.repeat(copies)));
  await waitFor(() => g.store.pendingEvents(0, 100).filter((r) => r.event.type === 'decision').length >= copies, {
    what: `${copies} decisions`,
    timeoutMs: 5000,
  });
  return g.store.pendingEvents(0, 100).map((r) => r.event).filter((e) => e.type === 'decision');
}

describe.each(TRANSPORT_KINDS)('anti-passback over a %s serial scanner', (kind) => {
  it('defect 1: the same valid code twice in one serial write opens once and is denied REPLAY once', async () => {
    const fed = sharedFederation();
    const { text } = issueHp1(fed.issuer('CN-330000'), { iss: 'CN-330000', iat: T0 - 60, exp: T0 + 3600, status: 1, kind: 'dynamic' });
    const decisions = await run(kind, text, 2);
    expect(decisions.map((d) => `${d.result}:${d.reason}`)).toEqual(['open:OK', 'deny:REPLAY']);
  });
});

describe('anti-passback across an online look-up', () => {
  it('defect 1: an ID card presented three times at once while its look-up is awaited opens the first and refuses the others, in arrival order', async () => {
    let lookups = 0;
    const slowGreen = {
      lookup: async (): Promise<LookupAnswer | null> => {
        // Later look-ups answer sooner: only a queue keeps the first-come first-decided.
        const delayMs = 60 - 20 * lookups++;
        await new Promise((r) => setTimeout(r, delayMs));
        return { s: 1 } as LookupAnswer;
      },
    };
    gate = await makeGate({ lookup: slowGreen, policy: { unknownHolder: 'online' } });
    gate.freshLists();
    const presented = { input: 'idcard' as const, idNumber: '11010519491231002X' };
    const verdicts = await Promise.all([1, 2, 3].map(() => gate!.verifier.verify(presented)));
    expect(lookups).toBeGreaterThan(0);
    expect(verdicts.map((v) => `${v.decision.result}:${v.decision.reason}`)).toEqual(['open:OK', 'deny:REPLAY', 'deny:REPLAY']);
    expect(verdicts.map((v) => v.seq)).toEqual([1, 2, 3].map((i) => verdicts[0]!.seq! + i - 1));
  });
});
