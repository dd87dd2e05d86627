import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/async/broker.js';
import { consumeEvent, publishEvent } from '../../../src/async/pipeline/index.js';
import { sleep } from '../../../src/core/clock.js';
import type { FakeClock } from '../../../src/testing/fake-clock.js';
import { OrderPlaced, drain, fakeBroker, withoutFeatures } from './helpers.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => {
  // Handlers asleep on the fake clock must wake up for close() (which waits for them) to finish.
  const closing = broker?.close();
  await clock?.advance(60_000);
  await closing;
});

const order = (orderId: string) => ({ orderId, totalCents: 1 });

describe('lease renewal', () => {
  it('keeps a long handler from being redelivered while it runs', async () => {
    ({ clock, broker } = fakeBroker());
    const attempts: number[] = [];
    let finished = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      leaseMs: 1_000,
      handler: async (_p, ctx) => {
        attempts.push(ctx.attempt);
        await sleep(5_000, clock);
        finished++;
      },
    });
    await publishEvent(broker, OrderPlaced, order('long'));
    await drain();
    await clock.advance(6_000);
    expect(attempts).toEqual([1]);
    expect(finished).toBe(1);
  });

  it('without renewal, the lease runs out and the group gets the message again', async () => {
    ({ clock, broker } = fakeBroker());
    const attempts: number[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      leaseMs: 1_000,
      extendLease: false,
      handler: async (_p, ctx) => {
        attempts.push(ctx.attempt);
        await sleep(5_000, clock);
      },
    });
    await publishEvent(broker, OrderPlaced, order('long'));
    await drain();
    await clock.advance(1_500);
    expect(attempts).toEqual([1, 2]);
  });
});

describe('rate limit', () => {
  it('starts at most ratePerSecond handlers per second', async () => {
    ({ clock, broker } = fakeBroker());
    const starts: number[] = [];
    const t0 = clock.now();
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      rateLimit: { ratePerSecond: 10, burst: 1 },
      handler: async () => void starts.push(clock.now() - t0),
    });
    for (let i = 0; i < 5; i++) await publishEvent(broker, OrderPlaced, order(`r${i}`));
    await drain();
    await clock.advance(1_000);
    expect(starts).toEqual([0, 100, 200, 300, 400]);
  });
});

describe('per-key order where the broker has none', () => {
  it('serialises each key within the consumer, keys in parallel', async () => {
    ({ clock, broker } = fakeBroker());
    const unordered = withoutFeatures(broker, { orderingByKey: false });
    const keys = ['a', 'b', 'c'];
    const seen = new Map<string, string[]>(keys.map((k) => [k, []]));
    const running = new Map<string, number>();
    let overlap = false;
    let maxParallel = 0;
    let parallel = 0;
    await consumeEvent(unordered, OrderPlaced, {
      group: 'g',
      clock,
      concurrency: 8,
      orderedByKey: true,
      handler: async (p, _ctx, consumed) => {
        const key = consumed.message.key!;
        if ((running.get(key) ?? 0) > 0) overlap = true;
        running.set(key, (running.get(key) ?? 0) + 1);
        maxParallel = Math.max(maxParallel, ++parallel);
        seen.get(key)!.push(p.orderId);
        await sleep(10 + (Number(p.orderId.slice(1)) % 4) * 7, clock);
        parallel--;
        running.set(key, running.get(key)! - 1);
      },
    });
    for (let i = 0; i < 24; i++) await publishEvent(unordered, OrderPlaced, order(`n${i}`), { key: keys[i % 3]! });
    await drain();
    await clock.advance(2_000);
    expect(overlap).toBe(false);
    expect(maxParallel).toBe(3); // one per key at a time, the three keys side by side
    for (const [i, key] of keys.entries()) {
      expect(seen.get(key)).toEqual(Array.from({ length: 8 }, (_, j) => `n${i + 3 * j}`));
    }
  });

  it('without orderedByKey, messages of one key run concurrently on such a broker', async () => {
    ({ clock, broker } = fakeBroker());
    const unordered = withoutFeatures(broker, { orderingByKey: false });
    let parallel = 0;
    let maxParallel = 0;
    await consumeEvent(unordered, OrderPlaced, {
      group: 'g',
      clock,
      concurrency: 4,
      handler: async () => {
        maxParallel = Math.max(maxParallel, ++parallel);
        await sleep(10, clock);
        parallel--;
      },
    });
    for (let i = 0; i < 4; i++) await publishEvent(unordered, OrderPlaced, order(`n${i}`), { key: 'same' });
    await drain();
    await clock.advance(100);
    expect(maxParallel).toBe(4);
  });
});

describe('retry delays where the broker cannot delay', () => {
  it('waits the backoff out in the consumer, then nacks without a delay', async () => {
    ({ clock, broker } = fakeBroker());
    const noDelay = withoutFeatures(broker, { delay: false });
    const times: number[] = [];
    await consumeEvent(noDelay, OrderPlaced, {
      group: 'g',
      clock,
      maxAttempts: 3,
      backoff: { baseMs: 100, maxMs: 1_000, jitter: 'none' },
      handler: async () => {
        times.push(clock.now());
        throw new Error('fails');
      },
    });
    await publishEvent(noDelay, OrderPlaced, order('d'));
    await drain();
    await clock.advance(1_000);
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([100, 200]);
    expect(noDelay.nackDelays).toEqual([0, 0]);
  });
});
