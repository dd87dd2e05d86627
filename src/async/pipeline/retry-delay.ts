/**
 * How long the pipeline waits before a failed message is delivered again: capped exponential backoff with
 * jitter (the policies' `backoffDelay`), and never less than a `retryAfterMs` the error itself asked for
 * (e.g. a `RateLimitedError` from a downstream call), within the cap.
 *
 * The pipeline keeps no per-message state between deliveries (the next attempt may run on another consumer),
 * so decorrelated jitter, which grows from the previous delay, takes the un-jittered delay of the previous
 * retry as that previous delay.
 */
import { CourierError } from '../../core/errors.js';
import { backoffDelay } from '../../policies/backoff.js';
import type { ResolvedConsumeOptions } from './options.js';

/** Whole ms to wait after delivery `attempt` (1-based) failed with `error`. */
export function retryDelay(attempt: number, error: unknown, o: ResolvedConsumeOptions): number {
  const retry = Math.max(1, attempt);
  const previous = Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, retry - 2));
  let delay = backoffDelay(retry, previous, {
    baseMs: o.baseMs,
    maxMs: o.maxMs,
    jitter: o.jitter,
    random: o.random,
  });
  const asked = error instanceof CourierError ? error.retryAfterMs : undefined;
  if (asked !== undefined && asked > delay) delay = Math.min(asked, o.maxMs);
  return Math.ceil(delay);
}
