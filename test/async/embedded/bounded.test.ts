import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedBroker, type EmbeddedBroker } from '../../../src/async/embedded/index.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { drained, msg, range, record, settle, tempDir, until } from './helpers.js';

const BACKLOG = 50_000;

describe('embedded broker: bounded memory', () => {
  let tmp: ReturnType<typeof tempDir>;
  let broker: EmbeddedBroker;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await broker.close();
    tmp.remove();
  });

  async function backlog(n: number): Promise<void> {
    const body = new Uint8Array(64);
    for (let i = 0; i < n; i += 5_000) {
      await Promise.all(range(Math.min(5_000, n - i), `b${i}-`).map((id) => broker.publish('t', { id, headers: {}, body })));
    }
  }

  it(`reads a ${BACKLOG}-message backlog in pages of at most readAheadPage, never holding more than the window`, async () => {
    broker = embeddedBroker({ dir: tmp.dir, tuning: { readAheadPage: 128, windowLimit: 512 } });
    await backlog(BACKLOG);
    let received = 0;
    await broker.subscribe('t', { group: 'g', prefetch: 64, start: { from: 'earliest' } }, async (d) => {
      received++;
      await d.ack();
    });
    await until(() => received === BACKLOG, 'backlog consumed', 200_000);
    const s = broker.stats();
    expect(s.messagesRead).toBe(BACKLOG); // every message came from disk, page by page
    expect(s.largestPage).toBeLessThanOrEqual(128);
    expect(s.pageReads).toBeGreaterThanOrEqual(BACKLOG / 128);
    expect(s.largestWindow).toBeLessThanOrEqual(512);
    await drained(broker, 't', 'g');
  });

  it('a lagging group whose handler acks at once still yields to the writer: acks commit while the backlog is read', async () => {
    broker = embeddedBroker({ dir: tmp.dir, tuning: { readAheadPage: 128, windowLimit: 512 } });
    await backlog(20_000);
    let acked = 0;
    let readAtFirstAck: number | undefined;
    await broker.subscribe('t', { group: 'g', prefetch: 64, start: { from: 'earliest' } }, async (d) => {
      await d.ack(); // settles within microtasks: no I/O between deliveries
      readAtFirstAck ??= broker.stats().messagesRead;
      acked++;
    });
    await until(() => acked === 20_000, 'backlog consumed', 200_000);
    // One dispatch turn delivers at most 2048 messages, then the writer commits their acks. (Before the fix
    // the pump rescheduled itself as a microtask and read the whole backlog before the first commit.)
    expect(readAtFirstAck).toBeLessThanOrEqual(4096);
    await drained(broker, 't', 'g');
  });

  it('a consumer that stops acking holds at most prefetch + one page in memory, however large the backlog', async () => {
    broker = embeddedBroker({ dir: tmp.dir, tuning: { readAheadPage: 100, windowLimit: 1 } });
    await backlog(20_000);
    const r = await record(broker, 't', { group: 'g', prefetch: 50, start: { from: 'earliest' } }, 'hold');
    await until(() => r.deliveries.length === 50);
    await settle(20);
    expect(r.deliveries).toHaveLength(50);
    expect(broker.stats().largestWindow).toBeLessThanOrEqual(150);
    expect(broker.stats().messagesRead).toBeLessThanOrEqual(150);
    expect((await broker.lag('t', 'g')).pending).toBe(20_000 - 50);
  });

  it('spills delayed messages to disk when the window fills, so they do not stall messages behind them', async () => {
    const clock = new FakeClock();
    broker = embeddedBroker({ dir: tmp.dir, clock, tuning: { readAheadPage: 16, windowLimit: 32 } });
    const r = await record(broker, 't', { group: 'g', prefetch: 8 });
    await Promise.all(range(300, 'late').map((id) => broker.publish('t', msg(id, { delayMs: 3_600_000 }))));
    await Promise.all(range(20, 'now').map((id) => broker.publish('t', msg(id))));
    await until(() => r.ids.length === 20, 'undelayed messages');
    expect(r.ids).toEqual(range(20, 'now'));
    expect(broker.stats().parked).toBeGreaterThan(250);
    expect(broker.stats().largestWindow).toBeLessThanOrEqual(32 + 16);
    expect((await broker.lag('t', 'g')).pending).toBe(300);
    await clock.advance(3_600_000);
    await until(() => r.ids.length === 320, 'delayed messages');
    expect(r.ids.slice(20).sort()).toEqual(range(300, 'late').sort());
    await drained(broker, 't', 'g');
  });

  it('spills nacked-with-delay messages too, and brings them back with their attempt count', async () => {
    const clock = new FakeClock();
    broker = embeddedBroker({ dir: tmp.dir, clock, tuning: { readAheadPage: 8, windowLimit: 8 } });
    const attempts = new Map<string, number[]>();
    await broker.subscribe('t', { group: 'g', prefetch: 8 }, async (d) => {
      attempts.set(d.message.id, [...(attempts.get(d.message.id) ?? []), d.message.attempt]);
      if (d.message.attempt === 1) await d.nack({ delayMs: 10_000 });
      else await d.ack();
    });
    await Promise.all(range(40).map((id) => broker.publish('t', msg(id))));
    await until(() => attempts.size === 40);
    await settle(10);
    expect(broker.stats().parked).toBeGreaterThan(0);
    await clock.advance(10_000);
    await until(() => [...attempts.values()].every((a) => a.length === 2), 'redeliveries');
    for (const a of attempts.values()) expect(a).toEqual([1, 2]);
    await drained(broker, 't', 'g');
  });
});
