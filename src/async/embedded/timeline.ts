/**
 * Timed wake-ups for one consumer group (lease expiries, delayed messages, parked messages falling due),
 * kept in a binary min-heap and served by a single clock timer armed for the earliest one. Items are never
 * removed early: when one falls due the owner checks whether it still applies (a settled delivery, an
 * extended lease), which keeps `push` O(log n) and the hot path free of timer churn: leases are pushed in
 * time order, so a delivery almost never re-arms the timer.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export interface TimelineItem<T> {
  readonly at: number;
  readonly value: T;
}

export class Timeline<T> {
  private readonly heap: TimelineItem<T>[] = [];
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;
  private closed = false;
  private firing = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (value: T) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(at: number, value: T): void {
    if (this.closed) return;
    const heap = this.heap;
    heap.push({ at, value });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    if (at < this.armedAt && !this.firing) this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    const top = this.heap[0];
    if (top === undefined || this.closed) return;
    this.armedAt = top.at;
    this.timer = this.clock.setTimeout(this.fire, Math.max(0, top.at - this.clock.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    this.firing = true;
    try {
      while (!this.closed && this.heap.length > 0 && this.heap[0]!.at <= now) {
        const item = this.pop();
        this.onDue(item.value);
      }
    } finally {
      this.firing = false;
    }
    this.arm();
  };

  private pop(): TimelineItem<T> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
        if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }
}
