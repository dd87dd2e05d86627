import type { Clock } from '../core/clock.js';

/**
 * How a circuit breaker decides to open, given outcomes of the calls made while it was closed. Both
 * counters are O(1) per outcome: success bookkeeping sits on every call's hot path.
 */
export interface FailureCounter {
  success(): void;
  /** Record a failure; true when the breaker should open now. */
  failure(): boolean;
  reset(): void;
  /** Failures and successes currently counted (for stats). */
  readonly failures: number;
  readonly successes: number;
}

/** Open after `threshold` failures in a row; any success starts the count again. */
export class ConsecutiveFailures implements FailureCounter {
  private count = 0;
  private okSince = 0;

  constructor(readonly threshold: number) {
    if (!(Number.isInteger(threshold) && threshold >= 1)) {
      throw new RangeError(`breaker: threshold must be an integer ≥ 1, got ${threshold}`);
    }
  }

  get failures(): number {
    return this.count;
  }

  get successes(): number {
    return this.okSince;
  }

  success(): void {
    this.count = 0;
    this.okSince++;
  }

  failure(): boolean {
    this.okSince = 0;
    return ++this.count >= this.threshold;
  }

  reset(): void {
    this.count = 0;
    this.okSince = 0;
  }
}

const BUCKETS = 10;

/**
 * Open when, over the last `windowMs`, at least `minThroughput` calls completed and the share of failures
 * is at least `failureRatio`. The window is a fixed ring of ten time buckets (so it covers between 90% and
 * 100% of `windowMs`); recording an outcome reads the clock once and touches one bucket and two totals.
 */
export class SamplingWindow implements FailureCounter {
  private readonly ok = new Float64Array(BUCKETS);
  private readonly bad = new Float64Array(BUCKETS);
  private totalOk = 0;
  private totalBad = 0;
  private readonly bucketMs: number;
  private index: number;

  constructor(
    readonly windowMs: number,
    readonly minThroughput: number,
    readonly failureRatio: number,
    private readonly clock: Clock,
  ) {
    if (!(windowMs > 0)) throw new RangeError(`breaker: windowMs must be > 0, got ${windowMs}`);
    if (!(minThroughput >= 1)) throw new RangeError(`breaker: minThroughput must be ≥ 1, got ${minThroughput}`);
    if (!(failureRatio > 0 && failureRatio <= 1)) {
      throw new RangeError(`breaker: failureRatio must be in (0, 1], got ${failureRatio}`);
    }
    this.bucketMs = windowMs / BUCKETS;
    this.index = Math.floor(clock.now() / this.bucketMs);
  }

  get failures(): number {
    this.rotate();
    return this.totalBad;
  }

  get successes(): number {
    this.rotate();
    return this.totalOk;
  }

  success(): void {
    this.rotate();
    this.ok[this.index % BUCKETS]!++;
    this.totalOk++;
  }

  failure(): boolean {
    this.rotate();
    this.bad[this.index % BUCKETS]!++;
    const bad = ++this.totalBad;
    const total = bad + this.totalOk;
    return total >= this.minThroughput && bad >= this.failureRatio * total;
  }

  reset(): void {
    this.ok.fill(0);
    this.bad.fill(0);
    this.totalOk = 0;
    this.totalBad = 0;
  }

  /** Drop the buckets that fell out of the window since the last outcome. */
  private rotate(): void {
    const index = Math.floor(this.clock.now() / this.bucketMs);
    if (index <= this.index) return; // same bucket, or the wall clock stepped back
    const steps = Math.min(index - this.index, BUCKETS);
    for (let s = 1; s <= steps; s++) {
      const slot = (this.index + s) % BUCKETS;
      this.totalOk -= this.ok[slot]!;
      this.totalBad -= this.bad[slot]!;
      this.ok[slot] = 0;
      this.bad[slot] = 0;
    }
    this.index = index;
  }
}
