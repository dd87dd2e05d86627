/**
 * Time, injectable. Every policy takes a `Clock` so that tests can drive time by hand (see
 * `FakeClock` in `courier/testing`) and production uses the real one at no extra cost.
 */
export interface TimerHandle {
  /** Opaque: only meaningful to the clock that made it. */
  readonly __timer?: never;
}

export interface Clock {
  /** Milliseconds since the Unix epoch (wall clock; deadlines are absolute and travel between hosts). */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The process's real clock. Timers are unref'd so a pending policy timer never keeps a process alive. */
export const systemClock: Clock = {
  now: Date.now,
  setTimeout(callback, ms) {
    const t = setTimeout(callback, ms);
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};

/** Resolves after `ms` on `clock`, or rejects early with the token's reason when it is cancelled. */
export function sleep(
  ms: number,
  clock: Clock = systemClock,
  cancel?: { readonly reason: unknown; onCancel(cb: (reason: unknown) => void): () => void },
): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    if (cancel?.reason !== undefined) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caller's cancel reason, passed on unchanged
      reject(cancel.reason);
      return;
    }
    let unsubscribe: (() => void) | undefined;
    const handle = clock.setTimeout(() => {
      unsubscribe?.();
      resolve();
    }, ms);
    if (cancel) {
      unsubscribe = cancel.onCancel((reason) => {
        clock.clearTimeout(handle);
        reject(reason);
      });
    }
  });
}
