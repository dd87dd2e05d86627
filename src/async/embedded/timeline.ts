/**
 * Timed wake-ups for one consumer group (lease expiries, delayed messages, parked messages falling due),
 * kept in a binary min-heap and served by a single clock timer armed for the earliest one. Items are never
 * removed early: when one falls due the owner checks whether it still applies (a settled delivery, an
 * extended lease), which keeps `push` O(log n) and the hot path free of timer churn: leases are pushed in
 * time order, so a delivery almost never re-arms the timer. The heap is two parallel arrays (times and
 * values), so a push allocates nothing.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export class Timeline<T> {
  private readonly ats: number[] = [];
  private readonly values: T[] = [];
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;
  private closed = false;
  private firing = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (value: T) => void,
  ) {}

  get size(): number {
    return this.ats.length;
  }

  push(at: number, value: T): void {
    if (this.closed) return;
    const { ats, values } = this;
    let i = ats.length;
    ats.push(at);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ats[parent]! <= at) break;
      ats[i] = ats[parent]!;
      values[i] = values[parent]!;
      i = parent;
    }
    ats[i] = at;
    values[i] = value;
    if (at < this.armedAt && !this.firing) this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.ats.length = 0;
    this.values.length = 0;
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    const top = this.ats[0];
    if (top === undefined || this.closed) return;
    this.armedAt = top;
    this.timer = this.clock.setTimeout(this.fire, Math.max(0, top - this.clock.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    this.firing = true;
    try {
      while (!this.closed && this.ats.length > 0 && this.ats[0]! <= now) this.onDue(this.pop());
    } finally {
      this.firing = false;
    }
    this.arm();
  };

  private pop(): T {
    const { ats, values } = this;
    const top = values[0]!;
    const lastAt = ats.pop()!;
    const lastValue = values.pop()!;
    const n = ats.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && ats[r]! < ats[l]! ? r : l;
        if (ats[m]! >= lastAt) break;
        ats[i] = ats[m]!;
        values[i] = values[m]!;
        i = m;
      }
      ats[i] = lastAt;
      values[i] = lastValue;
    }
    return top;
  }
}
