import { type Clock, systemClock } from '../core/clock.js';
import { Listeners } from './shared.js';

/**
 * retryBudget: a token bucket, shared by every call that uses it, that caps retries at a fraction of
 * requests. Per-call attempt limits do not protect a struggling dependency: with `attempts: 3`, a total
 * outage triples its load. A budget bounds the amplification for the whole client instead.
 *
 * Contract:
 * - every first attempt deposits `ratio` tokens; every retry must withdraw 1 token or is refused
 *   (`retry` then throws `RetryBudgetExhaustedError` carrying the last error);
 * - deposits and withdrawals expire after `windowMs`, so within any window
 *   retries ≤ ratio · requests + minPerSecond · windowMs / 1000 (the floor lets a quiet client still retry);
 * - arithmetic is in integer milli-tokens, so ten deposits of 0.1 make exactly one retry.
 *
 * The window is a ring of ten time buckets. A deposit is on every call's hot path, so it reads the clock
 * only every 16th time; in between it books into the bucket of the last reading. That bucket is never
 * later than the true one, so a deposit can only expire early (fewer retries), never late. A withdrawal
 * always reads the clock.
 */
export interface RetryBudgetOptions {
  /** Retries allowed per first attempt. Default 0.1 (10%). */
  readonly ratio?: number;
  /** Retries allowed per second even without traffic (the floor). Default 10. */
  readonly minPerSecond?: number;
  /** How long a deposit or withdrawal counts. Default 10 000 ms. */
  readonly windowMs?: number;
  readonly clock?: Clock;
}

export interface RetryBudgetStats {
  /** First attempts seen (deposits). */
  readonly requests: number;
  /** Retries allowed (withdrawals). */
  readonly retries: number;
  /** Retries refused for lack of tokens. */
  readonly refused: number;
}

const UNIT = 1000; // milli-tokens per retry
const BUCKETS = 10;
const CLOCK_EVERY = 16; // deposits per clock reading (power of two)

export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly deposit_: number;
  private readonly reserve: number;
  private readonly bucketMs: number;
  /** Net milli-tokens (deposits − withdrawals) per time bucket; `live` is their sum. */
  private readonly net = new Float64Array(BUCKETS);
  private live = 0;
  private bucketIndex: number;
  private requests = 0;
  private retries = 0;
  private refused = 0;
  private readonly exhausted = new Listeners<RetryBudgetStats>();

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.1;
    this.minPerSecond = options.minPerSecond ?? 10;
    this.windowMs = options.windowMs ?? 10_000;
    if (!(this.ratio >= 0)) throw new RangeError(`retryBudget: ratio must be ≥ 0, got ${this.ratio}`);
    if (!(this.minPerSecond >= 0)) throw new RangeError(`retryBudget: minPerSecond must be ≥ 0`);
    if (!(this.windowMs > 0)) throw new RangeError(`retryBudget: windowMs must be > 0`);
    this.clock = options.clock ?? systemClock;
    this.deposit_ = Math.round(this.ratio * UNIT);
    this.reserve = Math.round((this.minPerSecond * this.windowMs) / 1000) * UNIT;
    this.bucketMs = this.windowMs / BUCKETS;
    this.bucketIndex = Math.floor(this.clock.now() / this.bucketMs);
  }

  /** Retries that would be allowed right now. */
  get available(): number {
    this.rotate(this.clock.now());
    return Math.max(0, Math.floor((this.live + this.reserve) / UNIT));
  }

  get stats(): RetryBudgetStats {
    return { requests: this.requests, retries: this.retries, refused: this.refused };
  }

  /** Book one first attempt. Called by `retry` on every call. */
  deposit(): void {
    if ((++this.requests & (CLOCK_EVERY - 1)) === 0) this.rotate(this.clock.now());
    this.net[this.bucketIndex % BUCKETS]! += this.deposit_;
    this.live += this.deposit_;
  }

  /** Take the token for one retry; false (and an `onExhausted` event) when none is left. */
  tryWithdraw(): boolean {
    this.rotate(this.clock.now());
    if (this.live + this.reserve < UNIT) {
      this.refused++;
      if (this.exhausted.size > 0) this.exhausted.emit(this.stats);
      return false;
    }
    this.net[this.bucketIndex % BUCKETS]! -= UNIT;
    this.live -= UNIT;
    this.retries++;
    return true;
  }

  /** Called each time a retry is refused. Returns an unsubscribe function. */
  onExhausted(listener: (stats: RetryBudgetStats) => void): () => void {
    return this.exhausted.add(listener);
  }

  /** Expire the buckets that fell out of the window since the last reading. */
  private rotate(now: number): void {
    const index = Math.floor(now / this.bucketMs);
    if (index <= this.bucketIndex) return; // same bucket, or the wall clock stepped back
    const steps = Math.min(index - this.bucketIndex, BUCKETS);
    for (let s = 1; s <= steps; s++) {
      const slot = (this.bucketIndex + s) % BUCKETS;
      this.live -= this.net[slot]!;
      this.net[slot] = 0;
    }
    this.bucketIndex = index;
  }
}

/** Create a retry budget to pass to one or more `retry({ budget })` policies. */
export function retryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  return new RetryBudget(options);
}
