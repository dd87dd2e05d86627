import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { RateLimitedError } from '../../src/core/errors.js';
import { rateLimiter, retry } from '../../src/policies/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

function counter() {
  const state = { calls: 0 };
  return {
    state,
    handler: async () => {
      state.calls++;
      return 'ok';
    },
  };
}

describe('rateLimiter', () => {
  it('admits a burst, then one call per 1/rate, rejecting the rest without calling', async () => {
    const clock = new FakeClock();
    const { state, handler } = counter();
    const limiter = rateLimiter({ ratePerSecond: 10, burst: 3, clock });
    const call = limiter(handler);
    for (let i = 0; i < 3; i++) await expect(call('x', Context.background)).resolves.toBe('ok');
    const limited = await call('x', Context.background).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(100);
    expect(state.calls).toBe(3);

    await clock.advance(60);
    expect(((await call('x', Context.background).catch((e: unknown) => e)) as RateLimitedError).retryAfterMs).toBe(40);
    await clock.advance(40);
    await expect(call('x', Context.background)).resolves.toBe('ok');
    expect(state.calls).toBe(4);
  });

  it('refills up to the burst only', async () => {
    const clock = new FakeClock();
    const limiter = rateLimiter({ ratePerSecond: 100, burst: 5, clock });
    for (let i = 0; i < 5; i++) expect(limiter.tryAcquire()).toBe(0);
    expect(limiter.available).toBe(0);
    await clock.advance(60_000);
    expect(limiter.available).toBe(5);
  });

  it('sustains exactly the configured rate over time', async () => {
    const clock = new FakeClock();
    const { state, handler } = counter();
    const call = rateLimiter({ ratePerSecond: 50, burst: 1, clock })(handler);
    for (let ms = 0; ms < 10_000; ms += 5) {
      await call('x', Context.background).catch(() => undefined);
      await clock.advance(5);
    }
    expect(state.calls).toBe(500);
  });

  it('works with retry, which waits the retryAfterMs it reports', async () => {
    const clock = new FakeClock();
    const { state, handler } = counter();
    const limiter = rateLimiter({ ratePerSecond: 2, burst: 1, clock });
    const call = retry({ attempts: 2, baseMs: 1, jitter: 'none', clock })(limiter(handler));
    await call('x', Context.background);
    const start = clock.now();
    const second = call('x', Context.background);
    await clock.runAll();
    await expect(second).resolves.toBe('ok');
    expect(clock.now() - start).toBe(500);
    expect(state.calls).toBe(2);
  });

  it('reports each limited call', async () => {
    const clock = new FakeClock();
    const limiter = rateLimiter({ ratePerSecond: 1, clock });
    const seen: number[] = [];
    limiter.onLimited((e) => seen.push(e.retryAfterMs ?? -1));
    const call = limiter(counter().handler);
    await call('x', Context.background);
    await call('x', Context.background).catch(() => undefined);
    expect(seen).toEqual([1_000]);
  });
});
