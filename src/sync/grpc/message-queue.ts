/**
 * The messages arriving on one side of a streaming call, as an `AsyncIterable` for whoever consumes them
 * (a client reading a response stream, a handler reading a request stream).
 *
 * Backpressure: once `highWater` messages are buffered, `pause()` is called (the transport stops reading the
 * HTTP/2 stream, so its flow-control window closes and the peer's writes block); when the consumer has taken
 * the buffer down to half of it, `resume()` is called. A consumer that stops reading therefore stops the
 * producer on the far side.
 *
 * Contract: items come out in order; after `end()` the iterator finishes once the buffer is drained; after
 * `fail(error)` it throws `error` once the buffer is drained (messages that arrived before the failure are
 * still delivered); `return()` (a `break` out of `for await`) calls `onReturn` once, so the transport can
 * cancel the call, and finishes the iterator. Only one pending `next()` is served at a time, in order.
 */
export class MessageQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private finished = false;
  private error: unknown = undefined;
  private failed = false;
  private paused = false;
  private returned = false;

  constructor(
    private readonly highWater: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
    private readonly onReturn: () => void,
  ) {}

  get buffered(): number {
    return this.items.length - this.head;
  }

  /** True once `end`, `fail` or `return` was called. */
  get closed(): boolean {
    return this.finished || this.failed || this.returned;
  }

  push(item: T): void {
    if (this.closed) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.paused && this.buffered >= this.highWater) {
      this.paused = true;
      this.pause();
    }
  }

  end(): void {
    if (this.closed) return;
    this.finished = true;
    this.settleWaiting();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failed = true;
    this.error = error;
    this.settleWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      }
      if (this.paused && this.buffered <= this.highWater >> 1) {
        this.paused = false;
        this.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.failed) return Promise.reject(this.error);
    if (this.finished || this.returned) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.returned) {
      const wasOpen = !this.finished && !this.failed;
      this.returned = true;
      this.items.length = 0;
      this.head = 0;
      this.settleWaiting();
      if (wasOpen) this.onReturn();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private settleWaiting(): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    this.waiting = undefined;
    if (this.failed) waiting.reject(this.error);
    else waiting.resolve({ value: undefined, done: true });
  }
}
