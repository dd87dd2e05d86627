import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import { DeadlineExceededError, TimeoutError } from '../../src/core/errors.js';
import { timeout } from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, track } from './helpers.js';

describe('timeout', () => {
  it('rejects with TimeoutError at its limit and cancels the callee with the same error', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const policy = timeout({ ms: 100, clock });
    const outcome = track(policy(handler)('x', Context.background));
    await flushMicrotasks();
    expect(calls).toHaveLength(1);
    const seen: unknown[] = [];
    calls[0]!.ctx.cancel.onCancel((reason) => seen.push(reason));

    await clock.advance(99);
    expect(outcome.settled).toBe(false);
    expect(calls[0]!.ctx.cancel.isCancelled).toBe(false);

    await clock.advance(1);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect((outcome.error as TimeoutError).timeoutMs).toBe(100);
    expect(seen).toEqual([outcome.error]);
    expect(calls[0]!.ctx.cancel.reason).toBe(outcome.error);
    expect(policy.inFlight).toBe(0);
  });

  it('never waits past the caller deadline: DeadlineExceededError when the deadline is earlier', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const ctx = Context.background.withDeadline(clock.now() + 40);
    const outcome = track(timeout({ ms: 100, clock })(handler)('x', ctx));
    await flushMicrotasks();
    expect(calls[0]!.ctx.deadline).toBe(clock.now() + 40);

    await clock.advance(39);
    expect(outcome.settled).toBe(false);
    await clock.advance(1);
    expect(outcome.error).toBeInstanceOf(DeadlineExceededError);
    expect(calls[0]!.ctx.cancel.reason).toBe(outcome.error);
  });

  it('gives the callee the earlier deadline when its own limit comes first', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const ctx = Context.background.withDeadline(clock.now() + 5_000);
    track(timeout({ ms: 100, clock })(handler)('x', ctx));
    await flushMicrotasks();
    expect(calls[0]!.ctx.deadline).toBe(clock.now() + 100);
    await clock.advance(100);
  });

  it('rejects without calling when the deadline already passed or the caller already cancelled', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const late = Context.background.withDeadline(clock.now());
    await expect(timeout({ ms: 100, clock })(handler)('x', late)).rejects.toBeInstanceOf(DeadlineExceededError);
    const source = new CancelSource();
    const reason = new Error('caller left');
    source.cancel(reason);
    await expect(timeout({ ms: 100, clock })(handler)('x', Context.background.with({ cancel: source }))).rejects.toBe(
      reason,
    );
    expect(calls).toHaveLength(0);
  });

  it('passes results and errors through, and leaves the callee token untouched after settling', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const policy = timeout({ ms: 100, clock });
    const parent = new CancelSource();
    const ctx = Context.background.with({ cancel: parent });
    const ok = policy(handler)('a', ctx);
    const bad = policy(handler)('b', ctx);
    await flushMicrotasks();
    calls[0]!.resolve('A');
    const failure = new Error('boom');
    calls[1]!.reject(failure);
    await expect(ok).resolves.toBe('A');
    await expect(bad).rejects.toBe(failure);
    expect(policy.inFlight).toBe(0);

    // The child tokens were detached from the parent: cancelling it later does not reach them.
    parent.cancel(new Error('later'));
    expect(calls[0]!.ctx.cancel.isCancelled).toBe(false);
    await clock.advance(1_000);
    expect(calls[1]!.ctx.cancel.isCancelled).toBe(false);
  });

  it('rejects at once with the caller reason when the caller cancels mid-call, and cancels the callee', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const parent = new CancelSource();
    const outcome = track(timeout({ ms: 100, clock })(handler)('x', Context.background.with({ cancel: parent })));
    await flushMicrotasks();
    const reason = new Error('user navigated away');
    parent.cancel(reason);
    await flushMicrotasks();
    expect(outcome.error).toBe(reason);
    expect(calls[0]!.ctx.cancel.reason).toBe(reason);
  });

  it('times each call on its own schedule with one policy (shared timer, mixed deadlines)', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const { handler } = manualHandler();
    const policy = timeout({ ms: 100, clock })(handler);
    const firedAt: Array<[string, number]> = [];
    const watch = (name: string, p: Promise<unknown>) =>
      p.catch(() => {
        firedAt.push([name, clock.now() - start]);
      });
    void watch('a', policy('a', Context.background)); // 100
    await clock.advance(10);
    void watch('b', policy('b', Context.background)); // 110
    void watch('c', policy('c', Context.background.withDeadline(start + 30))); // 30, before a and b
    await clock.advance(20);
    void watch('d', policy('d', Context.background.withDeadline(start + 105))); // 105, between a and b
    await clock.advance(200);
    expect(firedAt).toEqual([
      ['c', 30],
      ['a', 100],
      ['d', 105],
      ['b', 110],
    ]);
  });

  it('reports each timeout to onTimeout listeners', async () => {
    const clock = new FakeClock();
    const { handler } = manualHandler();
    const policy = timeout({ ms: 50, clock });
    const events: boolean[] = [];
    const off = policy.onTimeout((event) => events.push(event.byDeadline));
    track(policy(handler)('x', Context.background));
    track(policy(handler)('y', Context.background.withDeadline(clock.now() + 10)));
    await clock.advance(50);
    off();
    track(policy(handler)('z', Context.background));
    await clock.advance(50);
    expect(events).toEqual([true, false]);
  });

  it('works on the real clock', async () => {
    const { handler, calls } = manualHandler();
    await expect(timeout(5)(handler)('x', Context.background)).rejects.toBeInstanceOf(TimeoutError);
    expect(calls[0]!.ctx.cancel.isCancelled).toBe(true);
  });
});

describe('timeout around a callee that enforces the deadline itself', () => {
  it('reports TimeoutError when the deadline the callee hit was this policy’s own limit', async () => {
    const clock = new FakeClock();
    const inner = timeout({ ms: 500, clock }); // gives up at the outer limit, reporting a deadline
    const outer = timeout({ ms: 100, clock });
    const { handler } = manualHandler();
    // Arm the inner policy's timer for t+100 first, so it wins the tie with the outer one.
    track(inner(handler)('earlier call', Context.background.withDeadline(clock.now() + 100)));
    const outcome = track(outer(inner(handler))('x', Context.background)); // the caller has no deadline
    await clock.advance(100);
    expect(outcome.error).toBeInstanceOf(TimeoutError);
    expect((outcome.error as TimeoutError).cause).toBeInstanceOf(DeadlineExceededError);
  });

  it('keeps DeadlineExceededError when it was the caller’s deadline', async () => {
    const clock = new FakeClock();
    const { handler } = manualHandler();
    const ctx = Context.background.withDeadline(clock.now() + 50);
    const outcome = track(timeout({ ms: 100, clock })(timeout({ ms: 500, clock })(handler))('x', ctx));
    await clock.advance(50);
    expect(outcome.error).toBeInstanceOf(DeadlineExceededError);
  });
});

describe('timeout with a callee whose cancel listener throws', () => {
  it('still rejects that call, expires the others and keeps timing later calls', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const policy = timeout({ ms: 10, clock });
    const call = policy(handler);
    const a = track(call('a', Context.background));
    const b = track(call('b', Context.background));
    await flushMicrotasks();
    calls[0]!.ctx.cancel.onCancel(() => {
      throw new Error('listener bug');
    });
    // The clock invokes the timer callback directly, so the listener's error surfaces here.
    const fired = clock.advance(10);
    await expect(fired).rejects.toThrow('listener bug');
    await flushMicrotasks();
    expect(a.error).toBeInstanceOf(TimeoutError);
    expect(b.error).toBeInstanceOf(TimeoutError);
    expect(policy.inFlight).toBe(0);
    const c = track(call('c', Context.background));
    await clock.advance(10);
    expect(c.error).toBeInstanceOf(TimeoutError);
  });
});
