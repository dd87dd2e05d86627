import type { Context } from './context.js';

/**
 * One shape for everything that wraps an interaction: a client call, a server handler, a message consumer.
 * A `Handler` takes the input and the context and returns a promise of the output; a `Middleware` takes the
 * next handler and returns a handler. The same timeout, retry or breaker therefore serves a sync call and
 * an async consumer.
 */
export type Handler<I = unknown, O = unknown> = (input: I, ctx: Context) => Promise<O>;
export type Middleware<I = unknown, O = unknown> = (next: Handler<I, O>) => Handler<I, O>;

/**
 * Compose middleware. Order is outermost first: `compose([a, b, c])(h)` runs a → b → c → h, so a call
 * passes through `a` first and its result passes through `a` last. The order we recommend for a client is
 * `[fallback, bulkhead, timeout(total), retry, breaker, timeout(per attempt)]`: the total timeout bounds all
 * attempts, the breaker sees every attempt, and the per-attempt timeout turns a hang into a failure the
 * breaker can count.
 */
export function compose<I, O>(middleware: ReadonlyArray<Middleware<I, O>>): Middleware<I, O> {
  return (handler) => {
    let next = handler;
    for (let i = middleware.length - 1; i >= 0; i--) next = middleware[i]!(next);
    return next;
  };
}

/** Wrap `handler` with `middleware` (outermost first). */
export function wrap<I, O>(handler: Handler<I, O>, middleware: ReadonlyArray<Middleware<I, O>>): Handler<I, O> {
  return compose(middleware)(handler);
}
