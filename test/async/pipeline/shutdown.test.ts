import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/async/broker.js';
import { type ConsumerEvent, consumeEvent, publishEvent } from '../../../src/async/pipeline/index.js';
import { sleep } from '../../../src/core/clock.js';
import type { FakeClock } from '../../../src/testing/fake-clock.js';
import { OrderPlaced, TOPIC, dlqReader, drain, fakeBroker } from './helpers.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => {
  const closing = broker?.close();
  await clock?.advance(60_000);
  await closing;
});

const order = (orderId: string) => ({ orderId, totalCents: 1 });

describe('graceful close', () => {
  it('lets running handlers finish, hands back what has not started, and the next consumer gets the rest', async () => {
    ({ clock, broker } = fakeBroker());
    const dlq = await dlqReader(broker);
    const handled: Array<{ id: string; attempt: number; by: string }> = [];
    const events: ConsumerEvent[] = [];
    const first = await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      concurrency: 4,
      rateLimit: { ratePerSecond: 1, burst: 1 }, // one starts, three wait for a token
      onEvent: (e) => events.push(e),
      handler: async (p, ctx) => {
        await sleep(100, clock);
        handled.push({ id: p.orderId, attempt: ctx.attempt, by: 'first' });
      },
    });
    for (let i = 0; i < 10; i++) await publishEvent(broker, OrderPlaced, order(`o${i}`));
    await drain();
    expect(first.stats.inFlight).toBe(4);
    let closed = false;
    const closing = first.close().then(() => (closed = true));
    await drain();
    expect(closed).toBe(false); // o0's handler is still running
    expect(events.filter((e) => e.type === 'released')).toHaveLength(3);
    await clock.advance(100);
    await closing;
    expect(handled).toEqual([{ id: 'o0', attempt: 1, by: 'first' }]);
    expect(first.stats).toMatchObject({ handled: 1, released: 3, inFlight: 0 });

    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      handler: async (p, ctx) => void handled.push({ id: p.orderId, attempt: ctx.attempt, by: 'second' }),
    });
    await drain();
    const second = handled.filter((h) => h.by === 'second');
    expect(second.map((h) => h.id).sort()).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9']);
    expect(second.filter((h) => h.attempt === 2).map((h) => h.id).sort()).toEqual(['o1', 'o2', 'o3']); // released ones
    expect(dlq.records).toHaveLength(0);
  });

  it('cancels a handler still running when the grace period ends; its message goes back, not to the DLQ', async () => {
    ({ clock, broker } = fakeBroker());
    const dlq = await dlqReader(broker);
    const events: ConsumerEvent[] = [];
    let cancelledWith: unknown;
    const first = await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      maxAttempts: 1,
      onEvent: (e) => events.push(e),
      handler: (_p, ctx) =>
        new Promise<void>((_resolve, reject) => {
          ctx.cancel.onCancel((reason) => {
            cancelledWith = reason;
            reject(reason instanceof Error ? reason : new Error(String(reason)));
          });
        }),
    });
    await publishEvent(broker, OrderPlaced, order('stuck'));
    await drain();
    const closing = first.close({ graceMs: 500 });
    await clock.advance(499);
    expect(cancelledWith).toBeUndefined();
    await clock.advance(1);
    await closing;
    expect(cancelledWith).toMatchObject({ name: 'CancelledError' });
    expect(events.map((e) => e.type)).toEqual(['released']);
    const attempts: number[] = [];
    await consumeEvent(broker, OrderPlaced, { group: 'g', clock, handler: async (_p, ctx) => void attempts.push(ctx.attempt) });
    await drain();
    expect(attempts).toEqual([2]);
    expect(dlq.records).toHaveLength(0);
    expect(await broker.lag(TOPIC, 'g')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('is idempotent', async () => {
    ({ clock, broker } = fakeBroker());
    const consumer = await consumeEvent(broker, OrderPlaced, { group: 'g', clock, handler: async () => undefined });
    const a = consumer.close();
    const b = consumer.close();
    expect(a).toBe(b);
    await a;
  });
});
