import { type Clock, sleep, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { RetryBudgetExhaustedError, isNonRetryable } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { type Jitter, backoffDelay } from './backoff.js';
import type { RetryBudget } from './retry-budget.js';
import { type Policy, invoke } from './shared.js';
import { type RunFn, type Sink, promiseFrom, runnerOf, withRun } from './sink.js';

/**
 * retry: try a failed call again, with capped exponential backoff and jitter.
 *
 * Contract:
 * - at most `attempts` calls in total; attempt n runs with `ctx.with({ attempt: n })`;
 * - an error whose `retryable` is false (`DeadlineExceededError`, `ValidationError`, a cancelled call…) is
 *   never retried, whatever `retryOn` says; `retryOn` can further narrow what is retried;
 * - the wait before a retry is the backoff delay (see backoff.ts), raised to the error's `retryAfterMs`
 *   when the callee asked for longer;
 * - it never sleeps past the caller's deadline: if the wait would reach it, retry stops and rethrows the
 *   last error; sleeps end early, rejecting with the cancel reason, when `ctx.cancel` fires;
 * - with a `budget`, every call deposits and every retry withdraws; when the budget is empty the call fails
 *   with `RetryBudgetExhaustedError` whose `cause` is the last error;
 * - when it gives up, the caller sees the last error itself (not a wrapper), unless the budget refused.
 *
 * Hot path: the context is passed through untouched when it already says attempt 1, and the retry loop
 * (`RetryFrame`) is created only after a failure. Standalone, attempt 1 is the callee's promise plus one
 * rejection handler; inside another Courier policy (see sink.ts) it is a five-field sink and no promise.
 */
export interface RetryOptions {
  /** Maximum number of attempts in total, the first included. Default 3. */
  readonly attempts?: number;
  /** Base backoff delay in ms. Default 100. */
  readonly baseMs?: number;
  /** Cap on a single backoff delay in ms. Default 10 000. */
  readonly maxMs?: number;
  /** Default 'full'. */
  readonly jitter?: Jitter;
  /** Which errors to retry (after the non-retryable ones are excluded); `attempt` is the one that failed. Default: all. */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
  /** A budget shared with other calls that bounds retries to a fraction of requests. */
  readonly budget?: RetryBudget;
  readonly clock?: Clock;
  /** Uniform random in [0, 1). Default Math.random; inject a seeded one in tests. */
  readonly random?: () => number;
  /** Called before each wait, with the attempt about to be made (2 for the first retry). */
  readonly onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  /** The attempt about to be made after the delay (2 for the first retry). */
  readonly attempt: number;
  readonly delayMs: number;
  /** The error of the attempt that just failed. */
  readonly error: unknown;
}

interface RetryConfig {
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly jitter: Jitter;
  readonly retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
  readonly budget: RetryBudget | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly onRetry: ((event: RetryEvent) => void) | undefined;
}

export function retry(options: RetryOptions = {}): Policy {
  const config: RetryConfig = {
    attempts: options.attempts ?? 3,
    baseMs: options.baseMs ?? 100,
    maxMs: options.maxMs ?? 10_000,
    jitter: options.jitter ?? 'full',
    retryOn: options.retryOn,
    budget: options.budget,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    onRetry: options.onRetry,
  };
  if (!(Number.isInteger(config.attempts) && config.attempts >= 1)) {
    throw new RangeError(`retry: attempts must be an integer ≥ 1, got ${config.attempts}`);
  }
  if (!(config.baseMs >= 0 && config.maxMs >= 0)) throw new RangeError('retry: baseMs and maxMs must be ≥ 0');
  const { budget } = config;
  return <I, O>(next: Handler<I, O>): Handler<I, O> => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) => {
        if (budget !== undefined) budget.deposit();
        const first = invoke(next, input, firstAttempt(ctx));
        if (config.attempts === 1) return first;
        return first.then(undefined, (error: unknown) =>
          promiseFrom<O>((sink) => new RetryFrame(config, proceed, input, ctx, sink).fail(error)),
        );
      },
      (input, ctx, sink) => {
        if (budget !== undefined) budget.deposit();
        const first = config.attempts === 1 ? sink : new FirstAttemptSink(config, proceed, input, ctx, sink);
        proceed(input, firstAttempt(ctx), first);
      },
    );
  };
}

/**
 * The sink of attempt 1 inside another policy: a success passes straight up; only a failure creates the
 * retry loop. Smaller than the loop itself, because most calls succeed the first time.
 */
class FirstAttemptSink<I> implements Sink {
  constructor(
    private readonly config: RetryConfig,
    private readonly proceed: RunFn<I>,
    private readonly input: I,
    private readonly ctx: Context,
    private readonly upstream: Sink,
  ) {}

  succeed(value: unknown): void {
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    new RetryFrame(this.config, this.proceed, this.input, this.ctx, this.upstream).fail(error);
  }
}

/** The context of attempt 1: the caller's own when it already says so (no allocation). */
function firstAttempt(ctx: Context): Context {
  return ctx.attempt === 1 ? ctx : ctx.with({ attempt: 1 });
}

const STOP = -1;

/**
 * One call's retry loop, as a sink: each attempt reports into it; a success goes up, a failure either goes
 * up (when retry gives up) or, after the backoff, starts the next attempt. Created on the first failure.
 */
class RetryFrame<I> implements Sink {
  /** The attempt that is running or just failed. */
  private attempt = 1;
  private previousDelay: number;
  /** The error to give up with, when `plan` says STOP. */
  private finalError: unknown = undefined;

  constructor(
    private readonly config: RetryConfig,
    private readonly proceed: RunFn<I>,
    private readonly input: I,
    private readonly ctx: Context,
    private readonly upstream: Sink,
  ) {
    this.previousDelay = config.baseMs;
  }

  succeed(value: unknown): void {
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    let delay: number;
    try {
      delay = this.plan(error);
    } catch (callbackError) {
      this.upstream.fail(callbackError); // retryOn or onRetry threw
      return;
    }
    if (delay === STOP) {
      this.upstream.fail(this.finalError);
      return;
    }
    sleep(delay, this.config.clock, this.ctx.cancel).then(
      () => {
        this.attempt++;
        this.proceed(this.input, this.ctx.with({ attempt: this.attempt }), this);
      },
      (reason: unknown) => this.upstream.fail(reason),
    );
  }

  /** The wait before the next attempt, or STOP with `finalError` set. */
  private plan(error: unknown): number {
    const { config, ctx } = this;
    const next = this.attempt + 1;
    this.finalError = error;
    if (next > config.attempts || isNonRetryable(error)) return STOP;
    if (config.retryOn !== undefined && !config.retryOn(error, this.attempt)) return STOP;
    if (ctx.cancel.isCancelled) {
      this.finalError = ctx.cancel.reason;
      return STOP;
    }
    let delay = backoffDelay(this.attempt, this.previousDelay, config);
    this.previousDelay = delay;
    const asked = retryAfterOf(error);
    if (asked > delay) delay = asked;
    if (ctx.deadline !== undefined && config.clock.now() + delay >= ctx.deadline) return STOP;
    if (config.budget !== undefined && !config.budget.tryWithdraw()) {
      this.finalError = new RetryBudgetExhaustedError(error);
      return STOP;
    }
    config.onRetry?.({ attempt: next, delayMs: delay, error });
    return delay;
  }
}

/** The wait the callee asked for (`retryAfterMs`, e.g. from a Retry-After header), or 0. */
function retryAfterOf(error: unknown): number {
  if (typeof error !== 'object' || error === null) return 0;
  const asked = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof asked === 'number' && asked > 0 ? asked : 0;
}
