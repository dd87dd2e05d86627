import { type Clock, systemClock } from '../core/clock.js';
import { RateLimitedError } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { Listeners, type Policy, attachApi, invoke } from './shared.js';
import { runnerOf, withRun } from './sink.js';

/**
 * rateLimiter: a token bucket that lets `ratePerSecond` calls through on average and up to `burst` at
 * once; a call over the limit is rejected immediately with `RateLimitedError`, whose `retryAfterMs` says
 * when the next token will be there (a `retry` outside honours it).
 *
 * Contract:
 * - the bucket starts full (`burst` tokens) and refills continuously, computed from the clock on each call
 *   (no timer runs);
 * - arithmetic is in integer milli-tokens, so `ratePerSecond: 10` admits exactly one call per 100 ms;
 * - one limiter is one shared bucket: wrap every handler that should share the limit with the same value.
 */
export interface RateLimiterOptions {
  readonly ratePerSecond: number;
  /** Bucket size: calls admitted at once after a quiet period. Default max(1, ratePerSecond). */
  readonly burst?: number;
  readonly clock?: Clock;
}

export interface RateLimiter extends Policy {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Whole tokens available now. */
  readonly available: number;
  /** Take a token without calling anything: 0 when taken, else ms until one is available. */
  tryAcquire(): number;
  /** Called for each rejected call. Returns an unsubscribe function. */
  onLimited(listener: (error: RateLimitedError) => void): () => void;
}

const UNIT = 1000; // milli-tokens per call

export function rateLimiter(options: RateLimiterOptions): RateLimiter {
  const core = new TokenBucket(options);
  const policy = (<I, O>(next: Handler<I, O>): Handler<I, O> => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) => {
        const waitMs = core.tryAcquire();
        return waitMs === 0 ? invoke(next, input, ctx) : Promise.reject(core.limit(waitMs));
      },
      (input, ctx, sink) => {
        const waitMs = core.tryAcquire();
        if (waitMs === 0) proceed(input, ctx, sink);
        else sink.fail(core.limit(waitMs));
      },
    );
  }) as RateLimiter;
  attachApi(policy, core, ['ratePerSecond', 'burst', 'available'], ['tryAcquire', 'onLimited']);
  return policy;
}

class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly clock: Clock;
  private readonly capacity: number;
  private tokens: number;
  private last: number;
  private readonly limited = new Listeners<RateLimitedError>();

  constructor(options: RateLimiterOptions) {
    this.ratePerSecond = options.ratePerSecond;
    if (!(this.ratePerSecond > 0)) throw new RangeError(`rateLimiter: ratePerSecond must be > 0, got ${this.ratePerSecond}`);
    this.burst = options.burst ?? Math.max(1, this.ratePerSecond);
    if (!(this.burst >= 1)) throw new RangeError(`rateLimiter: burst must be ≥ 1, got ${this.burst}`);
    this.clock = options.clock ?? systemClock;
    this.capacity = Math.floor(this.burst) * UNIT;
    this.tokens = this.capacity;
    this.last = this.clock.now();
  }

  get available(): number {
    this.refill(this.clock.now());
    return Math.floor(this.tokens / UNIT);
  }

  tryAcquire(): number {
    this.refill(this.clock.now());
    if (this.tokens >= UNIT) {
      this.tokens -= UNIT;
      return 0;
    }
    // milli-tokens missing ÷ milli-tokens per ms (= ratePerSecond)
    return Math.max(1, Math.ceil((UNIT - this.tokens) / this.ratePerSecond));
  }

  onLimited(listener: (error: RateLimitedError) => void): () => void {
    return this.limited.add(listener);
  }

  /** The error for a refused call (reported to `onLimited` listeners). */
  limit(waitMs: number): RateLimitedError {
    const error = new RateLimitedError(waitMs);
    if (this.limited.size > 0) this.limited.emit(error);
    return error;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return; // same ms, or the wall clock stepped back
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.ratePerSecond);
  }
}
