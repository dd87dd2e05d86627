import type { Context } from '../../src/core/context.js';
import type { Handler } from '../../src/core/middleware.js';

/** A call that reached the fake dependency, settled by the test. */
export interface PendingCall<O> {
  readonly input: unknown;
  readonly ctx: Context;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/** A handler whose calls stay pending until the test settles them; `calls` records every call that reached it. */
export function manualHandler<O = string>(): { handler: Handler<unknown, O>; calls: Array<PendingCall<O>> } {
  const calls: Array<PendingCall<O>> = [];
  const handler: Handler<unknown, O> = (input, ctx) =>
    new Promise<O>((resolve, reject) => {
      calls.push({ input, ctx, resolve, reject });
    });
  return { handler, calls };
}

/** A handler answering from `script`: each call takes the next entry (an Error rejects), the last repeats. */
export function scriptedHandler<O>(script: ReadonlyArray<O | Error>): {
  handler: Handler<unknown, O>;
  contexts: Context[];
} {
  const contexts: Context[] = [];
  const handler: Handler<unknown, O> = async (_input, ctx) => {
    const entry = script[Math.min(contexts.length, script.length - 1)]!;
    contexts.push(ctx);
    if (entry instanceof Error) throw entry;
    return entry;
  };
  return { handler, contexts };
}

/** Observe a promise's outcome without awaiting it (and without leaving a rejection unhandled). */
export function track<T>(promise: Promise<T>): { readonly settled: boolean; readonly value?: T; readonly error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** A deterministic uniform random in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
