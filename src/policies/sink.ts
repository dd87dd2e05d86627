import type { Context } from '../core/context.js';
import type { Handler } from '../core/middleware.js';
import { invoke } from './shared.js';

/**
 * How Courier policies stacked inside one another hand a call's outcome up without a promise per layer.
 *
 * Nested promise-based middleware pays, per layer and per call, a promise reaction, a derived promise and
 * a microtask hop; under a timeout (which must own a promise anyway, to reject it when time runs out)
 * that is most of the stack's cost. So every Courier policy handler also carries a `[RUN]` function:
 * `run(input, ctx, sink)` does the layer's work and reports the outcome by calling `sink.succeed(value)`
 * or `sink.fail(error)` exactly once, possibly synchronously. A layer that needs to see the outcome passes
 * down a small sink of its own that forwards upwards. `runnerOf` bridges to the outside world: a handler
 * without `[RUN]` (user code, another library's middleware) is called normally, and one reaction on its
 * promise feeds the sink. A whole stack of Courier policies under a timeout therefore costs one
 * reaction, however many layers it has, and behaves exactly as the nested promises would.
 *
 * Contract for sinks: `succeed`/`fail` never throw (user callbacks inside them are guarded), and a sink
 * may ignore outcomes that arrive after it gave its answer (a timeout that already expired).
 */
export interface Sink {
  succeed(value: unknown): void;
  fail(error: unknown): void;
}

export type RunFn<I> = (input: I, ctx: Context, sink: Sink) => void;

/** The property under which a Courier policy handler carries its `run` function. Internal to policies. */
export const RUN: unique symbol = Symbol('courier.policies.run');

type Runnable<I, O> = Handler<I, O> & { readonly [RUN]?: RunFn<I> };

/** Mark `handler` as a Courier policy handler that can also run into a sink. Returns `handler`. */
export function withRun<I, O>(handler: Handler<I, O>, run: RunFn<I>): Handler<I, O> {
  Object.defineProperty(handler, RUN, { value: run });
  return handler;
}

/**
 * How to run `next` into a sink, decided once when a policy wraps it (not per call): its own `[RUN]` for a
 * Courier policy, otherwise a bridge that calls it and feeds its promise's outcome to the sink.
 */
export function runnerOf<I, O>(next: Handler<I, O>): RunFn<I> {
  const run = (next as Runnable<I, O>)[RUN];
  if (run !== undefined) return run;
  return (input, ctx, sink) => {
    invoke(next, input, ctx).then(
      (value) => sink.succeed(value),
      (error: unknown) => sink.fail(error),
    );
  };
}

/** A sink that settles a promise: where a sink-based path has to hand a promise back to a caller. */
export class PromiseSink implements Sink {
  constructor(
    private readonly resolve: (value: any) => void,
    private readonly reject: (reason: unknown) => void,
  ) {}

  succeed(value: unknown): void {
    this.resolve(value);
  }

  fail(error: unknown): void {
    this.reject(error);
  }
}

/** Run `run` into a fresh promise (for slow paths that are sink-based but must return a promise). */
export function promiseFrom<O>(run: (sink: Sink) => void): Promise<O> {
  return new Promise<O>((resolve, reject) => run(new PromiseSink(resolve, reject)));
}
