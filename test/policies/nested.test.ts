/**
 * Courier policies stacked under a timeout hand outcomes to each other through sinks instead of promises
 * (src/policies/sink.ts). These tests run each policy's key behaviour in that nested form, and check that
 * foreign middleware between Courier layers still works.
 */
import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  TimeoutError,
  ValidationError,
} from '../../src/core/errors.js';
import { type Handler, type Middleware, compose } from '../../src/core/middleware.js';
import {
  type Policy,
  bulkhead,
  circuitBreaker,
  fallback,
  rateLimiter,
  retry,
  retryBudget,
  timeout,
} from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, scriptedHandler, track } from './helpers.js';

/** `policies` run inside a timeout that never fires, which switches them to the nested (sink) path. */
function nested<O>(clock: FakeClock, policies: ReadonlyArray<Policy | Middleware<unknown, O>>, handler: Handler<unknown, O>) {
  return compose<unknown, O>([timeout({ ms: Infinity, clock }), ...(policies as Array<Middleware<unknown, O>>)])(handler);
}

describe('policies nested under a timeout', () => {
  it('retry: attempts, backoff, non-retryable errors and success', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const at: number[] = [];
    const { handler, contexts } = scriptedHandler<string>([new Error('a'), new Error('b'), 'ok']);
    const timed: Handler<unknown, string> = (input, ctx) => {
      at.push(clock.now() - start);
      return handler(input, ctx);
    };
    const outcome = track(nested(clock, [retry({ attempts: 5, baseMs: 100, jitter: 'none', clock })], timed)('x', Context.background));
    await clock.runAll();
    expect(outcome.value).toBe('ok');
    expect(at).toEqual([0, 100, 300]);
    expect(contexts.map((c) => c.attempt)).toEqual([1, 2, 3]);

    const invalid = new ValidationError([{ path: [], message: 'bad' }]);
    const once = scriptedHandler<string>([invalid]);
    const failed = track(nested(clock, [retry({ attempts: 5, clock })], once.handler)('x', Context.background));
    await clock.runAll();
    expect(failed.error).toBe(invalid);
    expect(once.contexts).toHaveLength(1);
  });

  it('retry: stops at the deadline and reports budget exhaustion with the cause', async () => {
    const clock = new FakeClock();
    const last = new Error('down');
    const { handler, contexts } = scriptedHandler<string>([last]);
    const ctx = Context.background.withDeadline(clock.now() + 250);
    const outcome = track(nested(clock, [retry({ attempts: 10, baseMs: 100, jitter: 'none', clock })], handler)('x', ctx));
    await clock.runAll();
    expect(contexts).toHaveLength(2);
    expect(outcome.error).toBe(last);

    const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock });
    const exhausted = track(nested(clock, [retry({ attempts: 3, budget, clock })], handler)('x', Context.background));
    await clock.runAll();
    expect(exhausted.error).toBeInstanceOf(RetryBudgetExhaustedError);
    expect((exhausted.error as Error).cause).toBe(last);
  });

  it('retry: a throwing onRetry fails the call with its error', async () => {
    const clock = new FakeClock();
    const bug = new Error('listener bug');
    const { handler } = scriptedHandler<string>([new Error('down')]);
    const policy = retry({
      attempts: 3,
      clock,
      onRetry: () => {
        throw bug;
      },
    });
    const outcome = track(nested(clock, [policy], handler)('x', Context.background));
    await clock.runAll();
    expect(outcome.error).toBe(bug);
  });

  it('breaker: opens, rejects without calling, single probe, closes', async () => {
    const clock = new FakeClock();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 2 }, halfOpenAfterMs: 1_000, clock });
    const { handler, calls } = manualHandler();
    const call = nested(clock, [cb], handler);
    for (let i = 0; i < 2; i++) {
      const p = track(call('x', Context.background));
      await flushMicrotasks();
      calls[i]!.reject(new Error('down'));
      await flushMicrotasks();
      expect(p.error).toBeInstanceOf(Error);
    }
    expect(cb.state).toBe('open');
    const rejected = track(call('x', Context.background));
    await flushMicrotasks();
    expect(rejected.error).toBeInstanceOf(BrokenCircuitError);
    expect(calls).toHaveLength(2);

    await clock.advance(1_000);
    const probes = Array.from({ length: 5 }, () => track(call('x', Context.background)));
    await flushMicrotasks();
    expect(calls).toHaveLength(3);
    expect(probes.slice(1).every((p) => p.error instanceof BrokenCircuitError)).toBe(true);
    calls[2]!.resolve('back');
    await flushMicrotasks();
    expect(probes[0]!.value).toBe('back');
    expect(cb.state).toBe('closed');
  });

  it('breaker: a probe that times out re-opens the circuit', async () => {
    const clock = new FakeClock();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 1 }, halfOpenAfterMs: 100, clock });
    const hanging: Handler<unknown, string> = (_input, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.cancel.onCancel((reason) => reject(reason instanceof Error ? reason : new Error(String(reason))));
      });
    const call = compose<unknown, string>([timeout({ ms: 50, clock }), cb])(hanging);
    track(call('x', Context.background));
    await clock.advance(50); // times out: counted as a failure, opens
    expect(cb.state).toBe('open');
    await clock.advance(100);
    const probe = track(call('x', Context.background));
    await clock.advance(50);
    expect(probe.error).toBeInstanceOf(TimeoutError);
    expect(cb.state).toBe('open');
  });

  it('bulkhead: bounded queue, FIFO, release on failure, and a waiter that times out leaves the queue', async () => {
    const clock = new FakeClock();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2, clock });
    const { handler, calls } = manualHandler();
    const call = nested(clock, [bh], handler);
    const outcomes = [0, 1, 2, 3].map((i) => track(call(i, Context.background)));
    await flushMicrotasks();
    expect(outcomes[3]!.error).toBeInstanceOf(BulkheadRejectedError);
    expect([bh.running, bh.queued]).toEqual([1, 2]);
    calls[0]!.reject(new Error('first failed'));
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual([0, 1]);
    calls[1]!.resolve('second');
    await flushMicrotasks();
    calls[2]!.resolve('third');
    await flushMicrotasks();
    expect(outcomes.slice(0, 3).map((o) => o.value ?? (o.error as Error).message)).toEqual([
      'first failed',
      'second',
      'third',
    ]);

    // A queued call whose timeout fires is cancelled, leaves the queue, and is never started.
    const timed = compose<unknown, string>([timeout({ ms: 100, clock }), bh])(handler);
    track(timed('running', Context.background));
    const waiting = track(timed('waiting', Context.background));
    await clock.advance(99);
    expect(bh.queued).toBe(1);
    await clock.advance(1);
    expect(waiting.error).toBeInstanceOf(TimeoutError);
    expect(bh.queued).toBe(0);
  });

  it('bulkhead: a queued caller that cancels leaves the queue with its reason', async () => {
    const clock = new FakeClock();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2, clock });
    const { handler, calls } = manualHandler();
    const call = nested(clock, [bh], handler);
    track(call('running', Context.background));
    const source = new CancelSource();
    const waiting = track(call('waiting', Context.background.with({ cancel: source })));
    await flushMicrotasks();
    const reason = new Error('gone');
    source.cancel(reason);
    await flushMicrotasks();
    expect(waiting.error).toBe(reason);
    expect(bh.queued).toBe(0);
    calls[0]!.resolve('done');
    await flushMicrotasks();
    expect(calls).toHaveLength(1);
  });

  it('fallback: values, async functions, `when`, and passing successes through', async () => {
    const clock = new FakeClock();
    const failing = scriptedHandler<string>([new BrokenCircuitError()]).handler;
    await expect(nested(clock, [fallback('cached')], failing)('x', Context.background)).resolves.toBe('cached');
    const asyncFallback = fallback<string>(async (error) => `after ${(error as Error).name}`);
    await expect(nested(clock, [asyncFallback], failing)('x', Context.background)).resolves.toBe(
      'after BrokenCircuitError',
    );
    const picky = fallback('x', { when: (e) => !(e instanceof BrokenCircuitError) });
    await expect(nested(clock, [picky], failing)('x', Context.background)).rejects.toBeInstanceOf(BrokenCircuitError);
    const ok = scriptedHandler<string>(['real']).handler;
    await expect(nested(clock, [fallback('cached')], ok)('x', Context.background)).resolves.toBe('real');
  });

  it('rate limiter: admits the burst and rejects the rest without calling', async () => {
    const clock = new FakeClock();
    const { handler, contexts } = scriptedHandler<string>(['ok']);
    const call = nested(clock, [rateLimiter({ ratePerSecond: 10, burst: 2, clock })], handler);
    await call('x', Context.background);
    await call('x', Context.background);
    await expect(call('x', Context.background)).rejects.toBeInstanceOf(RateLimitedError);
    expect(contexts).toHaveLength(2);
  });

  it('foreign middleware between Courier layers keeps every layer working', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const logging: Middleware<unknown, string> = (next) => async (input, ctx) => {
      seen.push(`in ${String(input)}`);
      try {
        return await next(input, ctx);
      } finally {
        seen.push(`out ${String(input)}`);
      }
    };
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 1 }, clock });
    const { handler } = scriptedHandler<string>([new Error('down')]);
    const call = compose<unknown, string>([timeout({ ms: 1_000, clock }), retry({ attempts: 2, baseMs: 0, clock }), logging, cb])(handler);
    const outcome = track(call('a', Context.background));
    await clock.runAll();
    expect(outcome.error).toBeInstanceOf(BrokenCircuitError); // 1st attempt opened it, the retry was rejected
    expect(seen).toEqual(['in a', 'out a', 'in a', 'out a']);
  });

  it('a handler that throws synchronously is still reported through the stack', async () => {
    const clock = new FakeClock();
    const bh = bulkhead({ maxConcurrent: 1, clock });
    const throwing = (() => {
      throw new Error('sync');
    }) as unknown as Handler<unknown, string>;
    await expect(nested(clock, [retry({ attempts: 1, clock }), bh], throwing)('x', Context.background)).rejects.toThrow(
      'sync',
    );
    expect(bh.running).toBe(0);
  });
});
