import type { Clock, TimerHandle } from '../core/clock.js';

interface FakeTimer extends TimerHandle {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A virtual clock for tests. Time moves only when the test says so; timers fire in deadline order (ties in
 * creation order). `advance` is async and lets pending promise reactions settle before and after each
 * timer, so code of the form `await sleep(…); await next()` runs the way it would on a real clock, however
 * many async layers sit between the awaits (see `settle`).
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now = (): number => this.time;

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { id: ++this.seq, at: this.time + Math.max(0, ms), callback };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const i = this.timers.indexOf(handle as FakeTimer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order, settling promises between. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const target = this.time + ms;
    await settle();
    for (;;) {
      const next = this.nextTimer();
      if (next === undefined || next.at > target) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.time = next.at;
      next.callback();
      await settle();
    }
    this.time = target;
    await settle();
  }

  /** Fire timers until none is left (or `limit` fired), moving time to each. Returns how many fired. */
  async runAll(limit = 10_000): Promise<number> {
    let fired = 0;
    await settle();
    for (let next = this.nextTimer(); next !== undefined && fired < limit; next = this.nextTimer()) {
      this.timers.splice(this.timers.indexOf(next), 1);
      this.time = Math.max(this.time, next.at);
      next.callback();
      fired++;
      await settle();
    }
    return fired;
  }

  private nextTimer(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers)
      if (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    return best;
  }
}

// Captured at load so that a test that also installs fake timers (vi.useFakeTimers) cannot stall the clock.
const realSetImmediate = globalThis.setImmediate;

/**
 * Let every queued promise reaction run, however long the chain: Node runs a macrotask (here a
 * `setImmediate`) only once the microtask queue is empty. A fixed number of `await Promise.resolve()` turns
 * is not enough: each async function layer costs several turns, so a deep middleware stack outran it.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** Let queued promise reactions run for `turns` microtask turns (prefer `settle`, which has no limit). */
export async function flushMicrotasks(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}
