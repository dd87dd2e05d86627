import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import {
  CourierError,
  DeadlineExceededError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  ValidationError,
} from '../../src/core/errors.js';
import { type RetryEvent, retry, retryBudget } from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, scriptedHandler, seededRandom, track } from './helpers.js';

const transient = (n = 0) => new Error(`transient ${n}`);

describe('retry', () => {
  it('makes at most `attempts` calls and then throws the last error itself', async () => {
    const clock = new FakeClock();
    const errors = [transient(1), transient(2), transient(3), transient(4)];
    let n = 0;
    const calls: number[] = [];
    const handler = async (_: unknown, ctx: Context) => {
      calls.push(ctx.attempt);
      throw errors[n++]!;
    };
    const outcome = track(retry({ attempts: 3, baseMs: 10, jitter: 'none', clock })(handler)('x', Context.background));
    await clock.runAll();
    expect(calls).toEqual([1, 2, 3]);
    expect(outcome.error).toBe(errors[2]);
  });

  it('returns the first success, numbering attempts in ctx.attempt', async () => {
    const clock = new FakeClock();
    const { handler, contexts } = scriptedHandler<string>([transient(), transient(), 'ok']);
    const outcome = track(retry({ attempts: 5, baseMs: 10, clock })(handler)('x', Context.background));
    await clock.runAll();
    expect(outcome.value).toBe('ok');
    expect(contexts.map((c) => c.attempt)).toEqual([1, 2, 3]);
  });

  it('never retries non-retryable errors, whatever retryOn says', async () => {
    for (const error of [
      new ValidationError([{ path: ['qty'], message: 'must be positive' }]),
      new DeadlineExceededError(),
      new CourierError('CUSTOM', 'nope', { retryable: false }),
    ]) {
      const clock = new FakeClock();
      const { handler, contexts } = scriptedHandler<string>([error]);
      const outcome = track(retry({ attempts: 5, clock, retryOn: () => true })(handler)('x', Context.background));
      await clock.runAll();
      expect(outcome.error).toBe(error);
      expect(contexts).toHaveLength(1);
    }
  });

  it('retries only what retryOn accepts', async () => {
    const clock = new FakeClock();
    const fatal = new Error('fatal');
    const { handler, contexts } = scriptedHandler<string>([transient(), fatal, 'never']);
    const seen: number[] = [];
    const policy = retry({
      attempts: 5,
      clock,
      retryOn: (error, attempt) => {
        seen.push(attempt);
        return error !== fatal;
      },
    });
    const outcome = track(policy(handler)('x', Context.background));
    await clock.runAll();
    expect(outcome.error).toBe(fatal);
    expect(contexts).toHaveLength(2);
    expect(seen).toEqual([1, 2]);
  });

  it('waits capped exponential delays (no jitter) between attempts', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const at: number[] = [];
    const handler = async () => {
      at.push(clock.now() - start);
      throw transient();
    };
    const delays: number[] = [];
    const policy = retry({
      attempts: 7,
      baseMs: 100,
      maxMs: 1_000,
      jitter: 'none',
      clock,
      onRetry: (e: RetryEvent) => delays.push(e.delayMs),
    });
    track(policy(handler)('x', Context.background));
    await clock.runAll();
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(at).toEqual([0, 100, 300, 700, 1_500, 2_500, 3_500]);
  });

  it('keeps full-jitter delays inside [0, min(cap, base·2^n)] with a seeded random', async () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    const policy = retry({
      attempts: 12,
      baseMs: 100,
      maxMs: 3_000,
      jitter: 'full',
      clock,
      random: seededRandom(42),
      onRetry: (e) => delays.push(e.delayMs),
    });
    for (let i = 0; i < 20; i++) {
      track(policy(scriptedHandler<string>([transient()]).handler)('x', Context.background));
      await clock.runAll();
    }
    expect(delays).toHaveLength(20 * 11);
    delays.forEach((delay, i) => {
      const retryIndex = (i % 11) + 1;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.min(3_000, 100 * 2 ** (retryIndex - 1)));
    });
  });

  it('honours retryAfterMs from the error, even beyond the backoff cap', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const at: number[] = [];
    const handler = async () => {
      at.push(clock.now() - start);
      if (at.length === 1) throw new RateLimitedError(5_000);
      return 'ok';
    };
    const outcome = track(retry({ attempts: 2, baseMs: 10, maxMs: 100, jitter: 'none', clock })(handler)('x', Context.background));
    await clock.advance(4_999);
    expect(at).toEqual([0]);
    await clock.advance(1);
    expect(outcome.value).toBe('ok');
    expect(at).toEqual([0, 5_000]);
  });

  it('never sleeps past the caller deadline: stops with the last error instead', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const at: number[] = [];
    const errors: Error[] = [];
    const handler = async () => {
      at.push(clock.now() - start);
      const e = transient(at.length);
      errors.push(e);
      throw e;
    };
    const ctx = Context.background.withDeadline(start + 250);
    const outcome = track(retry({ attempts: 10, baseMs: 100, jitter: 'none', clock })(handler)('x', ctx));
    await clock.runAll();
    // 0 → wait 100 → 100 → next wait 200 would end at 300 ≥ 250: stop.
    expect(at).toEqual([0, 100]);
    expect(outcome.error).toBe(errors[1]);
    expect(clock.now() - start).toBe(100);
    expect(clock.pending).toBe(0);
  });

  it('does not wait for a Retry-After that ends past the deadline', async () => {
    const clock = new FakeClock();
    const limited = new RateLimitedError(60_000);
    const { handler, contexts } = scriptedHandler<string>([limited, 'ok']);
    const ctx = Context.background.withTimeout(1_000, clock);
    const outcome = track(retry({ attempts: 3, clock })(handler)('x', ctx));
    await flushMicrotasks();
    expect(outcome.error).toBe(limited);
    expect(contexts).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('stops sleeping and rejects with the reason when the caller cancels', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const source = new CancelSource();
    const outcome = track(
      retry({ attempts: 3, baseMs: 1_000, jitter: 'none', clock })(handler)('x', Context.background.with({ cancel: source })),
    );
    await flushMicrotasks();
    calls[0]!.reject(transient());
    await clock.advance(500);
    const reason = new Error('caller gone');
    source.cancel(reason);
    await clock.advance(5_000);
    expect(outcome.error).toBe(reason);
    expect(calls).toHaveLength(1);
  });

  it('fails with RetryBudgetExhaustedError (cause = last error) when the budget is empty', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock });
    const last = transient();
    const { handler, contexts } = scriptedHandler<string>([last]);
    const outcome = track(retry({ attempts: 3, budget, clock })(handler)('x', Context.background));
    await clock.runAll();
    expect(outcome.error).toBeInstanceOf(RetryBudgetExhaustedError);
    expect((outcome.error as Error).cause).toBe(last);
    expect(contexts).toHaveLength(1);
    expect(budget.stats).toEqual({ requests: 1, retries: 0, refused: 1 });
  });

  it('passes a synchronous throw from the handler into the retry loop', async () => {
    const clock = new FakeClock();
    let n = 0;
    const handler = (() => {
      if (n++ === 0) throw transient();
      return Promise.resolve('ok');
    }) as (i: unknown, c: Context) => Promise<string>;
    const outcome = track(retry({ attempts: 2, clock })(handler)('x', Context.background));
    await clock.runAll();
    expect(outcome.value).toBe('ok');
  });
});
