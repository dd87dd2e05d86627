import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { BrokenCircuitError, TimeoutError } from '../../src/core/errors.js';
import { compose } from '../../src/core/middleware.js';
import { bulkhead, circuitBreaker, fallback, retry, timeout } from '../../src/policies/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { track } from './helpers.js';

describe('a composed client stack', () => {
  it('turns a hanging dependency into per-attempt timeouts, retries, an open breaker, then the fallback', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const attempts: Array<{ at: number; attempt: number; cancelledWith?: unknown }> = [];
    // Hangs until cancelled, like a well-behaved client whose server never answers.
    const hanging = (_input: unknown, ctx: Context) =>
      new Promise<string>((_resolve, reject) => {
        const record: { at: number; attempt: number; cancelledWith?: unknown } = {
          at: clock.now() - start,
          attempt: ctx.attempt,
        };
        attempts.push(record);
        ctx.cancel.onCancel((reason) => {
          record.cancelledWith = reason;
          reject(reason instanceof Error ? reason : new Error(String(reason)));
        });
      });
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 3 }, halfOpenAfterMs: 5_000, clock });
    const bh = bulkhead({ maxConcurrent: 4, maxQueue: 4, clock });
    const stack = compose<unknown, string>([
      fallback('from cache'),
      bh,
      timeout({ ms: 1_000, clock }),
      retry({ attempts: 5, baseMs: 10, jitter: 'none', clock }),
      cb,
      timeout({ ms: 100, clock }),
    ])(hanging);

    const outcome = track(stack('sku-1', Context.background));
    await clock.runAll();
    expect(outcome.value).toBe('from cache');
    expect(attempts.map((a) => [a.at, a.attempt])).toEqual([
      [0, 1],
      [110, 2],
      [230, 3],
    ]);
    expect(attempts.every((a) => a.cancelledWith instanceof TimeoutError)).toBe(true);
    expect(cb.state).toBe('open');
    expect(bh.running).toBe(0);
    expect(clock.pending).toBeLessThanOrEqual(2); // only the idle timeout timers that are left armed
  });

  it('the total timeout bounds all attempts and the callee sees the cancellation', async () => {
    const clock = new FakeClock();
    let lastCtx: Context | undefined;
    const slow = (_input: unknown, ctx: Context) =>
      new Promise<string>((_resolve, reject) => {
        lastCtx = ctx;
        ctx.cancel.onCancel(reject);
      });
    const stack = compose<unknown, string>([
      timeout({ ms: 250, clock }),
      retry({ attempts: 10, baseMs: 0, jitter: 'none', clock }),
      timeout({ ms: 100, clock }),
    ])(slow);
    const outcome = track(stack('x', Context.background));
    await clock.runAll();
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect((outcome.error as TimeoutError).timeoutMs).toBe(250);
    expect(lastCtx!.cancel.isCancelled).toBe(true);
    expect(outcome.error).not.toBeInstanceOf(BrokenCircuitError);
  });
});
