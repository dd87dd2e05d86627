import { type Clock, type TimerHandle, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { BulkheadRejectedError, DeadlineExceededError } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { Listeners, type Policy, attachApi, invoke } from './shared.js';
import { type RunFn, type Sink, promiseFrom, runnerOf, withRun } from './sink.js';

/**
 * bulkhead: at most `maxConcurrent` calls run at once; up to `maxQueue` more wait, first in first out;
 * beyond that a call is rejected at once with `BulkheadRejectedError`. It keeps one slow dependency from
 * taking every socket, worker or connection of the caller.
 *
 * Contract:
 * - a waiting call leaves the queue, rejected, when its caller's token is cancelled (with the cancel
 *   reason) or its deadline passes (`DeadlineExceededError`): nobody would use the answer;
 * - a call whose context is already done is rejected without queueing;
 * - a slot is released when the call settles either way, and the oldest waiting call starts;
 * - `running` and `queued` are live counts; one bulkhead can wrap several handlers and share its slots.
 *
 * Hot path (a free slot): a counter increment and one reaction with a release handler created once per
 * bulkhead; the callee's own promise is returned, adding no promise hop to the caller's await. Inside
 * another Courier policy (sink.ts) it adds no reaction, just a two-field sink. Only a queued call
 * allocates more (a queue entry, and a timer or cancel listener if its context has them).
 */
export interface BulkheadOptions {
  readonly maxConcurrent: number;
  /** Calls allowed to wait for a slot. Default 0: reject as soon as all slots are busy. */
  readonly maxQueue?: number;
  /** Used for queued calls' deadlines. */
  readonly clock?: Clock;
}

export interface Bulkhead extends Policy {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  /** Calls running now. */
  readonly running: number;
  /** Calls waiting for a slot now. */
  readonly queued: number;
  /** Called for each rejected call (queue full). Returns an unsubscribe function. */
  onRejected(listener: (error: BulkheadRejectedError) => void): () => void;
}

export function bulkhead(options: BulkheadOptions): Bulkhead {
  const core = new BulkheadCore(options);
  const policy = (<I, O>(next: Handler<I, O>): Handler<I, O> => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) => {
        if (core.running < core.maxConcurrent) {
          core.running++;
          const result = invoke(next, input, ctx);
          result.then(core.release, core.release);
          return result;
        }
        return promiseFrom<O>((sink) => core.enqueue(proceed, input, ctx, sink));
      },
      (input, ctx, sink) => {
        if (core.running < core.maxConcurrent) core.start(proceed, input, ctx, sink);
        else core.enqueue(proceed, input, ctx, sink);
      },
    );
  }) as Bulkhead;
  attachApi(policy, core, ['maxConcurrent', 'maxQueue', 'running', 'queued'], ['onRejected']);
  return policy;
}

class Waiter {
  prev: Waiter | null = null;
  next: Waiter | null = null;
  /** In the queue (false once started or gone). */
  waiting = true;
  timer: TimerHandle | undefined = undefined;
  unlisten: (() => void) | undefined = undefined;

  constructor(
    readonly proceed: RunFn<any>,
    readonly input: unknown,
    readonly ctx: Context,
    readonly sink: Sink,
  ) {}
}

class BulkheadCore {
  running = 0;
  queued = 0;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private readonly clock: Clock;
  private head: Waiter | null = null;
  private tail: Waiter | null = null;
  private readonly rejections = new Listeners<BulkheadRejectedError>();

  constructor(options: BulkheadOptions) {
    this.maxConcurrent = options.maxConcurrent;
    this.maxQueue = options.maxQueue ?? 0;
    if (!(Number.isInteger(this.maxConcurrent) && this.maxConcurrent >= 1)) {
      throw new RangeError(`bulkhead: maxConcurrent must be an integer ≥ 1, got ${this.maxConcurrent}`);
    }
    if (!(Number.isInteger(this.maxQueue) && this.maxQueue >= 0)) {
      throw new RangeError(`bulkhead: maxQueue must be an integer ≥ 0, got ${this.maxQueue}`);
    }
    this.clock = options.clock ?? systemClock;
  }

  onRejected(listener: (error: BulkheadRejectedError) => void): () => void {
    return this.rejections.add(listener);
  }

  readonly release = (): void => {
    this.running--;
    while (this.head !== null && this.running < this.maxConcurrent) {
      const waiter = this.unlink(this.head);
      this.start(waiter.proceed, waiter.input, waiter.ctx, waiter.sink);
    }
  };

  /** Take a slot and run the call; the slot is released when its outcome passes through. */
  start<I>(proceed: RunFn<I>, input: I, ctx: Context, sink: Sink): void {
    this.running++;
    proceed(input, ctx, new SlotSink(this, sink));
  }

  enqueue<I>(proceed: RunFn<I>, input: I, ctx: Context, sink: Sink): void {
    if (this.queued >= this.maxQueue) {
      const error = new BulkheadRejectedError(this.maxConcurrent, this.maxQueue);
      if (this.rejections.size > 0) this.rejections.emit(error);
      sink.fail(error);
      return;
    }
    if (ctx.cancel.isCancelled) {
      sink.fail(ctx.cancel.reason);
      return;
    }
    const now = this.clock.now();
    if (ctx.deadline !== undefined && ctx.deadline <= now) {
      sink.fail(new DeadlineExceededError('deadline passed while waiting for a bulkhead slot'));
      return;
    }
    const waiter = new Waiter(proceed, input, ctx, sink);
    this.append(waiter);
    if (ctx.deadline !== undefined) {
      waiter.timer = this.clock.setTimeout(
        () => this.leave(waiter, new DeadlineExceededError('deadline passed while waiting for a bulkhead slot')),
        ctx.deadline - now,
      );
    }
    waiter.unlisten = ctx.cancel.onCancel((reason) => this.leave(waiter, reason));
  }

  /** A waiting call gives up (cancelled or out of time) before a slot freed. */
  private leave(waiter: Waiter, reason: unknown): void {
    if (!waiter.waiting) return; // already started
    this.unlink(waiter);
    waiter.sink.fail(reason);
  }

  private append(waiter: Waiter): void {
    this.queued++;
    waiter.prev = this.tail;
    if (this.tail !== null) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
  }

  private unlink(waiter: Waiter): Waiter {
    this.queued--;
    waiter.waiting = false;
    const { prev, next } = waiter;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    waiter.prev = waiter.next = null;
    if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer);
    waiter.unlisten?.();
    waiter.timer = waiter.unlisten = undefined;
    return waiter;
  }
}

/** Releases the slot when the call's outcome passes through, then passes it up unchanged. */
class SlotSink implements Sink {
  constructor(
    private readonly core: BulkheadCore,
    private readonly upstream: Sink,
  ) {}

  succeed(value: unknown): void {
    this.core.release();
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    this.core.release();
    this.upstream.fail(error);
  }
}
