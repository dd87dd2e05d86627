import type { Context } from '../core/context.js';
import type { Handler } from '../core/middleware.js';
import { invoke, rejectWith } from './shared.js';
import { type Sink, runnerOf, withRun } from './sink.js';

/**
 * fallback: answer with a substitute when the call fails: a cached value, an empty list, a degraded
 * response. Put it outermost so it also covers rejections by the bulkhead, breaker and timeout.
 *
 * Contract:
 * - on success the callee's result passes through unchanged;
 * - on failure, if `when(error)` (default: always) the result is `value`, or, when `value` is a function,
 *   what `value(error, input, ctx)` returns or resolves to (a function that throws rejects the call);
 *   otherwise the original error is rethrown;
 * - to fall back to a value that is itself a function, return it from a function.
 */
export interface FallbackOptions {
  /** Which errors to replace with the fallback. Default: all. */
  readonly when?: (error: unknown) => boolean;
}

export type FallbackFn<I, O> = (error: unknown, input: I, ctx: Context) => O | Promise<O>;

export function fallback<O, I = any>(
  valueOrFn: O | FallbackFn<I, O>,
  options: FallbackOptions = {},
): (next: Handler<I, O>) => Handler<I, O> {
  const { when } = options;
  const compute: FallbackFn<I, O> =
    typeof valueOrFn === 'function' ? (valueOrFn as FallbackFn<I, O>) : () => valueOrFn;
  return (next) => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) =>
        invoke(next, input, ctx).then(undefined, (error: unknown) => {
          if (when !== undefined && !when(error)) throw error;
          return compute(error, input, ctx);
        }),
      (input, ctx, sink) => proceed(input, ctx, new FallbackSink(when, compute, input, ctx, sink)),
    );
  };
}

/** Passes successes up; replaces accepted failures with the fallback (which may itself be async or throw). */
class FallbackSink<I, O> implements Sink {
  constructor(
    private readonly when: ((error: unknown) => boolean) | undefined,
    private readonly compute: FallbackFn<I, O>,
    private readonly input: I,
    private readonly ctx: Context,
    private readonly upstream: Sink,
  ) {}

  succeed(value: unknown): void {
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    let replacement: O | Promise<O>;
    try {
      if (this.when !== undefined && !this.when(error)) replacement = rejectWith(error);
      else replacement = this.compute(error, this.input, this.ctx);
    } catch (failure) {
      replacement = rejectWith(failure);
    }
    Promise.resolve(replacement).then(
      (value) => this.upstream.succeed(value),
      (failure: unknown) => this.upstream.fail(failure),
    );
  }
}
