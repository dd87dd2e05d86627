import { CancelSource } from '../core/cancel.js';
import { type Clock, type TimerHandle, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { CancelledError, isNonRetryable } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { Listeners, type Policy, attachApi } from './shared.js';
import { type RunFn, type Sink, promiseFrom, runnerOf, withRun } from './sink.js';

/**
 * hedge: when a call has not answered after `delayMs`, send the same call again (up to `maxHedges` extra
 * copies, `delayMs` apart) and take the first success. It cuts tail latency when a few replicas are slow;
 * it costs extra load, so use it for idempotent operations (reads, commands with an idempotency key) only.
 *
 * Contract:
 * - each copy runs with its own cancel token (linked to the caller's) and `ctx.attempt` = 1, 2, …;
 * - the first success answers the call; every other copy still running is cancelled with `CancelledError`;
 * - a failing copy is ignored while another is still running; when none is, the next copy starts at once
 *   if one is left, else the call fails with that last error;
 * - a non-retryable error (`retryable === false`) ends the call at once and cancels the rest;
 * - no copy starts once the caller's token is cancelled or its deadline has passed.
 */
export interface HedgeOptions {
  /** How long to wait for an answer before sending the next copy, in ms. */
  readonly delayMs: number;
  /** Extra copies at most. Default 1. */
  readonly maxHedges?: number;
  readonly clock?: Clock;
}

export interface HedgeEvent {
  /** The copy about to start (2 for the first hedge). */
  readonly attempt: number;
  /** Why it starts now: the previous copy was slow, or every running copy failed. */
  readonly because: 'slow' | 'failed';
}

export interface HedgePolicy extends Policy {
  readonly delayMs: number;
  readonly maxHedges: number;
  /** Extra copies sent since the policy was created. */
  readonly hedged: number;
  onHedge(listener: (event: HedgeEvent) => void): () => void;
}

export function hedge(options: HedgeOptions): HedgePolicy {
  const core = new HedgeCore(options);
  const policy = (<I, O>(next: Handler<I, O>): Handler<I, O> => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) => promiseFrom<O>((sink) => new HedgedCall(core, proceed, input, ctx, sink).launch('slow')),
      (input, ctx, sink) => new HedgedCall(core, proceed, input, ctx, sink).launch('slow'),
    );
  }) as HedgePolicy;
  attachApi(policy, core, ['delayMs', 'maxHedges', 'hedged'], ['onHedge']);
  return policy;
}

class HedgeCore {
  readonly delayMs: number;
  readonly maxHedges: number;
  readonly clock: Clock;
  hedged = 0;
  readonly hedges = new Listeners<HedgeEvent>();

  constructor(options: HedgeOptions) {
    this.delayMs = options.delayMs;
    this.maxHedges = options.maxHedges ?? 1;
    if (!(this.delayMs >= 0)) throw new RangeError(`hedge: delayMs must be ≥ 0, got ${this.delayMs}`);
    if (!(Number.isInteger(this.maxHedges) && this.maxHedges >= 0)) {
      throw new RangeError(`hedge: maxHedges must be an integer ≥ 0, got ${this.maxHedges}`);
    }
    this.clock = options.clock ?? systemClock;
  }

  onHedge(listener: (event: HedgeEvent) => void): () => void {
    return this.hedges.add(listener);
  }
}

/** One hedged call: its copies, the timer for the next one, and where the answer goes. */
class HedgedCall<I> {
  /** Copies started so far. */
  private launched = 0;
  /** The tokens of copies still running. */
  private readonly live = new Set<CancelSource>();
  private done = false;
  private timer: TimerHandle | undefined = undefined;

  constructor(
    private readonly core: HedgeCore,
    private readonly proceed: RunFn<I>,
    private readonly input: I,
    private readonly ctx: Context,
    private readonly upstream: Sink,
  ) {}

  /** Start the next copy (the first one included) and, if another may follow, the timer for it. */
  launch(because: HedgeEvent['because']): void {
    const attempt = ++this.launched;
    if (attempt > 1) {
      this.core.hedged++;
      if (this.core.hedges.size > 0) this.core.hedges.emit({ attempt, because });
    }
    const source = new CancelSource(this.ctx.cancel);
    this.live.add(source);
    if (attempt <= this.core.maxHedges) {
      this.timer = this.core.clock.setTimeout(() => this.onSlow(), this.core.delayMs);
    }
    this.proceed(this.input, this.ctx.with({ cancel: source, attempt }), new CopySink(this, source));
  }

  succeeded(source: CancelSource, value: unknown): void {
    this.settle(source);
    if (this.done) return;
    this.finish();
    this.upstream.succeed(value);
  }

  failed(source: CancelSource, error: unknown): void {
    this.settle(source);
    if (this.done) return;
    if (!isNonRetryable(error)) {
      if (this.live.size > 0) return; // another copy may still answer
      if (this.launched <= this.core.maxHedges && this.mayStart()) {
        this.clearTimer();
        this.launch('failed');
        return;
      }
    }
    this.finish();
    this.upstream.fail(error);
  }

  private onSlow(): void {
    this.timer = undefined;
    if (!this.done && this.mayStart()) this.launch('slow');
  }

  private mayStart(): boolean {
    return !this.ctx.isDone(this.core.clock);
  }

  /** A copy is over: detach its token from the caller's. */
  private settle(source: CancelSource): void {
    this.live.delete(source);
    source.dispose();
  }

  /**
   * The call has its answer: stop the timer and cancel the copies still running. A copy's cancel listener
   * that throws must not keep the answer from the caller, so its error is rethrown on a later microtask.
   */
  private finish(): void {
    this.done = true;
    this.clearTimer();
    const reason = new CancelledError('another hedged copy answered first');
    for (const copy of this.live) {
      try {
        copy.cancel(reason);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    this.live.clear();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.core.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Reports one copy's outcome to its call. */
class CopySink implements Sink {
  constructor(
    private readonly call: HedgedCall<any>,
    private readonly source: CancelSource,
  ) {}

  succeed(value: unknown): void {
    this.call.succeeded(this.source, value);
  }

  fail(error: unknown): void {
    this.call.failed(this.source, error);
  }
}
