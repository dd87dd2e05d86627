import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedBroker, type EmbeddedBroker } from '../../../src/async/embedded/index.js';
import { msg, range, record, tempDir, text, until } from './helpers.js';

describe('embedded broker: group commit', () => {
  let tmp: ReturnType<typeof tempDir>;
  let broker: EmbeddedBroker;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await broker.close();
    tmp.remove();
  });

  it('writes many concurrent publishes in few transactions and few rows', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    const receipts = await Promise.all(range(1000).map((id) => broker.publish('t', msg(id))));
    const s = broker.stats();
    expect(s.messagesWritten).toBe(1000);
    expect(s.publishTransactions).toBe(1);
    expect(s.largestTransaction).toBe(1000);
    expect(s.rowsWritten).toBe(4); // 256 messages per row
    expect(receipts.map((r) => r.sequence)).toEqual(range(1000).map((_, i) => i + 1));
  });

  it('commits eagerly: a lone publish does not wait for company', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    for (const id of range(5)) await broker.publish('t', msg(id));
    expect(broker.stats().publishTransactions).toBe(5);
  });

  it('splits a burst larger than maxTransactionMessages over several transactions of whole rows, in order', async () => {
    broker = embeddedBroker({ dir: tmp.dir, tuning: { maxTransactionMessages: 100, maxRowMessages: 30 } });
    const receipts = await Promise.all(range(350).map((id) => broker.publish('t', msg(id))));
    const s = broker.stats();
    // A transaction carries whole rows: three rows of 30 (90 messages) each time, then the last 80 (30+30+20).
    expect(s.publishTransactions).toBe(4);
    expect(s.largestTransaction).toBe(90);
    expect(s.rowsWritten).toBe(12);
    expect(receipts.map((r) => r.sequence)).toEqual(range(350).map((_, i) => i + 1));
    const r = await record(broker, 't', { group: 'g', start: { from: 'earliest' }, prefetch: 50 });
    await until(() => r.ids.length === 350);
    expect(r.ids).toEqual(range(350));
  });

  it('starts a new row when a row would exceed maxRowBytes', async () => {
    broker = embeddedBroker({ dir: tmp.dir, tuning: { maxRowBytes: 2200 } });
    await Promise.all(range(10).map((id) => broker.publish('t', { id, headers: {}, body: new Uint8Array(1000) })));
    expect(broker.stats().rowsWritten).toBe(5);
  });

  it('batches acks: settling many deliveries costs few transactions', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    const r = await record(broker, 't', { group: 'g', prefetch: 500 }, 'hold');
    await Promise.all(range(500).map((id) => broker.publish('t', msg(id))));
    await until(() => r.deliveries.length === 500);
    const before = broker.stats().transactions;
    await Promise.all(r.deliveries.map((d) => d.ack()));
    expect(broker.stats().transactions - before).toBe(1);
    expect((await broker.lag('t', 'g')).pending + (await broker.lag('t', 'g')).inFlight).toBe(0);
  });

  it('hands committed messages to a caught-up group from memory: no page read, every field intact', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    const r = await record(broker, 't', { group: 'g', prefetch: 1000 });
    const sent = range(500).map((id, i) =>
      msg(id, { key: i % 3 === 0 ? `k${i % 7}` : undefined, headers: { n: String(i), 'ce-type': 'test' } }),
    );
    await Promise.all(sent.map((m) => broker.publish('t', m)));
    await until(() => r.ids.length === 500);
    expect(broker.stats().pageReads).toBe(0);
    const byId = new Map(r.deliveries.map((d) => [d.message.id, d.message]));
    for (const m of sent) {
      const got = byId.get(m.id)!;
      expect({ key: got.key, headers: got.headers, body: text(got.body) }).toEqual({ key: m.key, headers: m.headers, body: text(m.body) });
    }
  });

  it('stores messages of several topics in one transaction', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    await Promise.all([...range(10).map((id) => broker.publish('a', msg(id))), ...range(10).map((id) => broker.publish('b', msg(id)))]);
    expect(broker.stats()).toMatchObject({ publishTransactions: 1, rowsWritten: 2, messagesWritten: 20 });
  });

  it('checkpoints the WAL on a worker thread, so the WAL stays small while the log grows', async () => {
    broker = embeddedBroker({ dir: tmp.dir });
    const body = new Uint8Array(1000);
    for (let round = 0; round < 6; round++) {
      await Promise.all(range(2000, `r${round}-`).map((id) => broker.publish('t', { id, headers: {}, body })));
      const before = broker.stats().checkpoints;
      for (let i = 0; i < 400 && broker.stats().checkpoints === before; i++) await new Promise((r) => setTimeout(r, 5));
    }
    expect(broker.stats().checkpoints).toBeGreaterThanOrEqual(6);
    // 12 MB were written; after checkpoints the writer restarts the WAL instead of growing it.
    expect(statSync(join(tmp.dir, 'broker.db-wal')).size).toBeLessThan(6 * 1024 * 1024);
    expect(statSync(join(tmp.dir, 'broker.db')).size).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('power durability stores and delivers the same way', async () => {
    broker = embeddedBroker({ dir: tmp.dir, durability: 'power' });
    expect(broker.features.persistence).toBe('power');
    const r = await record(broker, 't', { group: 'g' });
    await Promise.all(range(20).map((id) => broker.publish('t', msg(id))));
    await until(() => r.ids.length === 20);
    await broker.close();
    broker = embeddedBroker({ dir: tmp.dir, durability: 'power' });
    const again = await record(broker, 't', { group: 'fresh', start: { from: 'earliest' } });
    await until(() => again.ids.length === 20);
  });
});
