import { describe, expect, it } from 'vitest';
import { CancelSource, CancelToken } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import { DeadlineExceededError } from '../../src/core/errors.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

const T0 = 1_700_000_000_000;

describe('Context deadlines', () => {
  it('withDeadline never extends: the earlier deadline wins', () => {
    const ctx = Context.background.withDeadline(T0 + 100);
    expect(ctx.withDeadline(T0 + 200).deadline).toBe(T0 + 100);
    expect(ctx.withDeadline(T0 + 200)).toBe(ctx); // nothing to change: no allocation
    expect(ctx.withDeadline(T0 + 100)).toBe(ctx);
    expect(ctx.withDeadline(T0 + 50).deadline).toBe(T0 + 50);
    expect(Context.background.deadline).toBeUndefined();
  });

  it('withTimeout counts from the clock and cannot extend either', () => {
    const clock = new FakeClock(T0);
    const ctx = Context.background.withTimeout(300, clock);
    expect(ctx.deadline).toBe(T0 + 300);
    expect(ctx.withTimeout(1000, clock).deadline).toBe(T0 + 300);
    expect(ctx.withTimeout(100, clock).deadline).toBe(T0 + 100);
  });

  it('withDeadline refuses NaN instead of silently disabling the deadline', () => {
    expect(() => Context.background.withDeadline(Number.NaN)).toThrow(RangeError);
    expect(() => Context.background.withTimeout(Number.NaN, new FakeClock())).toThrow(RangeError);
  });

  it('remaining: Infinity without a deadline, then counts down with the clock, below zero after', async () => {
    const clock = new FakeClock(T0);
    expect(Context.background.remaining(clock)).toBe(Infinity);
    const ctx = Context.background.withTimeout(100, clock);
    expect(ctx.remaining(clock)).toBe(100);
    await clock.advance(40);
    expect(ctx.remaining(clock)).toBe(60);
    await clock.advance(100);
    expect(ctx.remaining(clock)).toBe(-40);
  });

  it('isDone: false before the deadline, true from the deadline on', async () => {
    const clock = new FakeClock(T0);
    const ctx = Context.background.withTimeout(100, clock);
    expect(ctx.isDone(clock)).toBe(false);
    await clock.advance(99);
    expect(ctx.isDone(clock)).toBe(false);
    await clock.advance(1);
    expect(ctx.isDone(clock)).toBe(true);
    expect(Context.background.isDone(clock)).toBe(false);
  });

  it('throwIfDone: nothing before, DeadlineExceededError after the deadline', async () => {
    const clock = new FakeClock(T0);
    const ctx = Context.background.withTimeout(10, clock);
    expect(() => ctx.throwIfDone(clock)).not.toThrow();
    await clock.advance(10);
    expect(() => ctx.throwIfDone(clock)).toThrow(DeadlineExceededError);
    try {
      ctx.throwIfDone(clock);
    } catch (error) {
      expect((error as DeadlineExceededError).code).toBe('DEADLINE_EXCEEDED');
      expect((error as DeadlineExceededError).retryable).toBe(false);
    }
  });
});

describe('Context cancellation', () => {
  it('isDone and throwIfDone see cancellation; the cancel reason wins over the deadline', async () => {
    const clock = new FakeClock(T0);
    const { ctx, source } = Context.background.withTimeout(10, clock).withCancel();
    expect(ctx.isDone(clock)).toBe(false);
    const reason = new Error('caller went away');
    source.cancel(reason);
    expect(ctx.isDone(clock)).toBe(true);
    await clock.advance(20);
    expect(() => ctx.throwIfDone(clock)).toThrow(reason);
  });

  it('withCancel links to the parent context: cancelling the parent cancels the child, not the reverse', () => {
    const root = new CancelSource();
    const parent = new Context({ cancel: root });
    const { ctx: child, source } = parent.withCancel();
    source.cancel(new Error('child only'));
    expect(child.cancel.isCancelled).toBe(true);
    expect(parent.cancel.isCancelled).toBe(false);
    const { ctx: second } = parent.withCancel();
    root.cancel(new Error('all'));
    expect(second.cancel.isCancelled).toBe(true);
  });

  it('signal comes from the token', () => {
    const { ctx, source } = Context.background.withCancel();
    const signal = ctx.signal;
    source.cancel(new Error('x'));
    expect(signal.aborted).toBe(true);
  });
});

describe('Context fields', () => {
  it('defaults: attempt 1, never-cancelled token, empty frozen metadata', () => {
    const ctx = new Context();
    expect(ctx.attempt).toBe(1);
    expect(ctx.cancel).toBe(CancelToken.never);
    expect(ctx.metadata).toEqual({});
    expect(Object.isFrozen(ctx.metadata)).toBe(true);
  });

  it('with() returns a child with some fields replaced and leaves the parent alone', () => {
    const parent = new Context({
      correlationId: 'c',
      traceparent: 'tp',
      attempt: 2,
      metadata: { tenant: 'acme' },
      deadline: T0,
    });
    const child = parent.with({ attempt: 3, operation: 'orders.place' });
    expect(child).toMatchObject({
      correlationId: 'c',
      traceparent: 'tp',
      attempt: 3,
      operation: 'orders.place',
      deadline: T0,
    });
    expect(child.metadata).toEqual({ tenant: 'acme' });
    expect(parent.attempt).toBe(2);
    expect(parent.operation).toBeUndefined();
    expect(child).toBeInstanceOf(Context);
  });
});
