/**
 * OutboxPublisher against a real GateStore and a recording connection: acks move the window at once,
 * the rows they cover are deleted together later (one durable DELETE for many acks), a clean stop
 * leaves nothing acked in the store, and a resend starts after the highest seq acked.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { GateStore } from '../../device/store/store.js';
import { SystemClock } from '../../device/clock.js';
import { OutboxPublisher } from '../../sync/outbox-publisher.js';
import { GateTopics } from '../../sync/topics.js';
import type { EventsBatch } from '../../sync/contract.js';
import { removeTempDirs, tempDir } from '../helpers/sync.js';
import { memoryLogger } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

afterAll(() => removeTempDirs());

function setup(events: number) {
  const store = GateStore.open(tempDir());
  for (let i = 0; i < events; i++) store.recordEvent({ type: 'decision', i }, 1000 + i);
  const sent: { first: number; last: number }[] = [];
  const conn = {
    connected: true,
    send: async (_kind: string, b: EventsBatch) => {
      sent.push({ first: b.events[0]!.seq, last: b.events[b.events.length - 1]!.seq });
    },
  };
  const changes = { n: 0 };
  const outbox = new OutboxPublisher(store, conn as never, new GateTopics('pub', 'g1'), new SystemClock(), memoryLogger(), { batchSize: 10 }, () => changes.n++);
  const deletions = vi.spyOn(store, 'ackUpTo');
  return { store, sent, outbox, deletions, changes };
}

describe('OutboxPublisher', () => {
  it('acks move the window at once; their rows go in one deletion, at the latest on a clean stop', () => {
    const { store, sent, outbox, deletions, changes } = setup(100);
    outbox.start();
    outbox.connected(1);
    expect(sent).toHaveLength(8); // the window: 8 batches of 10
    outbox.acked(10);
    outbox.acked(30);
    outbox.acked(50);
    expect(sent.slice(8)).toEqual([{ first: 81, last: 90 }, { first: 91, last: 100 }]); // published at once
    expect(outbox.snapshot()).toMatchObject({ ackedUpTo: 50, acks: 3 });
    expect(changes.n).toBe(3); // R/status on every ack
    expect(deletions).not.toHaveBeenCalled(); // coalesced: no fsync per ack
    outbox.stop();
    expect(deletions.mock.calls).toEqual([[50]]);
    expect(store.outboxBounds().firstSeq).toBe(51);
    store.close();
  });

  it('deletes coalesced acks on its own timer, never beyond what an ack covered', async () => {
    const { store, outbox, deletions } = setup(30);
    outbox.start();
    outbox.connected(1);
    outbox.acked(12);
    outbox.acked(25);
    outbox.acked(1_000); // beyond the last seq: refused, deletes nothing
    await waitFor(() => deletions.mock.calls.length > 0, { what: 'the coalesced deletion' });
    expect(deletions.mock.calls).toEqual([[25]]);
    expect(store.outboxBounds().firstSeq).toBe(26);
    expect(outbox.snapshot()).toMatchObject({ ackedUpTo: 25, ignoredAcks: 1 });
    outbox.stop();
    store.close();
  });

  it('resends after a reconnect from the highest seq acked, even while its rows are still held', () => {
    const { store, sent, outbox, deletions } = setup(30);
    outbox.start();
    outbox.connected(1);
    outbox.acked(20);
    outbox.disconnected();
    sent.length = 0;
    outbox.connected(2);
    expect(deletions).not.toHaveBeenCalled();
    expect(store.outboxBounds().firstSeq).toBe(1); // acked rows not deleted yet…
    expect(sent).toEqual([{ first: 21, last: 30 }]); // …and not sent again
    outbox.stop();
    store.close();
  });
});
