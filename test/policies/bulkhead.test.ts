import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import { BulkheadRejectedError, DeadlineExceededError } from '../../src/core/errors.js';
import { bulkhead } from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, track } from './helpers.js';

describe('bulkhead', () => {
  it('runs maxConcurrent, queues maxQueue, rejects the next one without calling', async () => {
    const { handler, calls } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 2, maxQueue: 3, clock: new FakeClock() });
    const call = bh(handler);
    const outcomes = Array.from({ length: 6 }, (_, i) => track(call(i, Context.background)));
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual([0, 1]);
    expect([bh.running, bh.queued]).toEqual([2, 3]);
    expect(outcomes[5]!.error).toBeInstanceOf(BulkheadRejectedError);
    expect(outcomes.slice(0, 5).every((o) => !o.settled)).toBe(true);
  });

  it('starts queued calls first in, first out as slots free, on success and on failure', async () => {
    const { handler, calls } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 10, clock: new FakeClock() });
    const call = bh(handler);
    const outcomes = [0, 1, 2, 3].map((i) => track(call(i, Context.background)));
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual([0]);
    calls[0]!.resolve('a');
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual([0, 1]);
    calls[1]!.reject(new Error('b failed'));
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual([0, 1, 2]);
    calls[2]!.resolve('c');
    await flushMicrotasks();
    calls[3]!.resolve('d');
    await flushMicrotasks();
    expect(outcomes.map((o) => o.value ?? (o.error as Error).message)).toEqual(['a', 'b failed', 'c', 'd']);
    expect([bh.running, bh.queued]).toEqual([0, 0]);
  });

  it('with maxQueue 0 rejects as soon as every slot is busy, and accepts again after release', async () => {
    const { handler, calls } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 1 });
    const first = bh(handler)('a', Context.background);
    await expect(bh(handler)('b', Context.background)).rejects.toBeInstanceOf(BulkheadRejectedError);
    await flushMicrotasks();
    calls[0]!.resolve('A');
    await first;
    await flushMicrotasks();
    const third = bh(handler)('c', Context.background);
    await flushMicrotasks();
    calls[1]!.resolve('C');
    await expect(third).resolves.toBe('C');
  });

  it('a queued caller that cancels leaves the queue and is never called', async () => {
    const { handler, calls } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 5, clock: new FakeClock() });
    const call = bh(handler);
    track(call('running', Context.background));
    const source = new CancelSource();
    const cancelled = track(call('cancelled', Context.background.with({ cancel: source })));
    const after = track(call('after', Context.background));
    await flushMicrotasks();
    expect(bh.queued).toBe(2);
    const reason = new Error('gave up');
    source.cancel(reason);
    await flushMicrotasks();
    expect(cancelled.error).toBe(reason);
    expect(bh.queued).toBe(1);
    calls[0]!.resolve('done');
    await flushMicrotasks();
    expect(calls.map((c) => c.input)).toEqual(['running', 'after']);
    expect(after.settled).toBe(false);
  });

  it('a queued caller whose deadline passes leaves with DeadlineExceededError', async () => {
    const clock = new FakeClock();
    const { handler, calls } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 5, clock });
    const call = bh(handler);
    track(call('running', Context.background));
    const waiting = track(call('waiting', Context.background.withTimeout(100, clock)));
    await clock.advance(99);
    expect(waiting.settled).toBe(false);
    await clock.advance(1);
    expect(waiting.error).toBeInstanceOf(DeadlineExceededError);
    expect(bh.queued).toBe(0);
    calls[0]!.resolve('done');
    await flushMicrotasks();
    expect(calls).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('rejects an already-done caller instead of queueing it, and reports rejections', async () => {
    const clock = new FakeClock();
    const { handler } = manualHandler();
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 1, clock });
    const rejected: BulkheadRejectedError[] = [];
    bh.onRejected((e) => rejected.push(e));
    track(bh(handler)('running', Context.background));
    const late = Context.background.withDeadline(clock.now());
    await expect(bh(handler)('late', late)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(bh.queued).toBe(0);
    track(bh(handler)('queued', Context.background));
    await expect(bh(handler)('over', Context.background)).rejects.toBeInstanceOf(BulkheadRejectedError);
    expect(rejected).toHaveLength(1);
    expect([rejected[0]!.maxConcurrent, rejected[0]!.maxQueue]).toEqual([1, 1]);
  });

  it('releases the slot when the handler throws synchronously', async () => {
    const bh = bulkhead({ maxConcurrent: 1 });
    const throwing = (() => {
      throw new Error('sync');
    }) as unknown as (i: unknown, c: Context) => Promise<string>;
    await expect(bh(throwing)('x', Context.background)).rejects.toThrow('sync');
    await flushMicrotasks();
    expect(bh.running).toBe(0);
  });
});
