import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { CancelledError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { compose } from '../../src/core/middleware.js';
import { type HedgeEvent, hedge, timeout } from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, track } from './helpers.js';

describe('hedge', () => {
  it('sends nothing extra when the first copy answers in time', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const policy = hedge({ delayMs: 50, clock });
    const outcome = track(policy(handler)('x', Context.background));
    await clock.advance(49);
    calls[0]!.resolve('fast');
    await clock.advance(100);
    expect(outcome.value).toBe('fast');
    expect(calls).toHaveLength(1);
    expect(policy.hedged).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('sends a copy after delayMs, takes the first success and cancels the loser', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const events: HedgeEvent[] = [];
    const policy = hedge({ delayMs: 50, clock });
    policy.onHedge((e) => events.push(e));
    const outcome = track(policy(handler)('x', Context.background));
    await clock.advance(50);
    expect(calls.map((c) => c.ctx.attempt)).toEqual([1, 2]);
    calls[1]!.resolve('from the hedge');
    await flushMicrotasks();
    expect(outcome.value).toBe('from the hedge');
    expect(calls[0]!.ctx.cancel.reason).toBeInstanceOf(CancelledError);
    expect(calls[1]!.ctx.cancel.isCancelled).toBe(false);
    expect(events).toEqual([{ attempt: 2, because: 'slow' }]);
    calls[0]!.resolve('too late'); // ignored
    await flushMicrotasks();
    expect(outcome.value).toBe('from the hedge');
  });

  it('keeps waiting for the other copy when one fails, and fails with the last error when all do', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const outcome = track(hedge({ delayMs: 50, maxHedges: 2, clock })(handler)('x', Context.background));
    await clock.advance(100);
    expect(calls).toHaveLength(3);
    calls[2]!.reject(new Error('third'));
    calls[0]!.reject(new Error('first'));
    await flushMicrotasks();
    expect(outcome.settled).toBe(false);
    calls[1]!.reject(new Error('second'));
    await flushMicrotasks();
    expect((outcome.error as Error).message).toBe('second');
  });

  it('starts the next copy at once when the only running one fails', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const events: HedgeEvent[] = [];
    const policy = hedge({ delayMs: 1_000, clock });
    policy.onHedge((e) => events.push(e));
    const outcome = track(policy(handler)('x', Context.background));
    await flushMicrotasks();
    calls[0]!.reject(new Error('replica down'));
    await flushMicrotasks();
    expect(calls).toHaveLength(2);
    expect(events).toEqual([{ attempt: 2, because: 'failed' }]);
    calls[1]!.resolve('ok');
    await flushMicrotasks();
    expect(outcome.value).toBe('ok');
    await clock.advance(5_000);
    expect(calls).toHaveLength(2);
  });

  it('stops at a non-retryable error and cancels the other copies', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const outcome = track(hedge({ delayMs: 10, clock })(handler)('x', Context.background));
    await clock.advance(10);
    const invalid = new ValidationError([{ path: [], message: 'bad' }]);
    calls[1]!.reject(invalid);
    await flushMicrotasks();
    expect(outcome.error).toBe(invalid);
    expect(calls[0]!.ctx.cancel.reason).toBeInstanceOf(CancelledError);
  });

  it('sends no copy past the caller deadline; under a timeout every copy is cancelled when it fires', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const call = compose<unknown, string>([timeout({ ms: 120, clock }), hedge({ delayMs: 50, maxHedges: 5, clock })])(handler);
    const outcome = track(call('x', Context.background));
    await clock.advance(200);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect(calls).toHaveLength(3); // at 0, 50 and 100; not at 150
    expect(calls.every((c) => c.ctx.cancel.reason instanceof TimeoutError)).toBe(true);
  });
});
