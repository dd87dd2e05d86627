/**
 * The consumer side every remote adapter shares: it hands received messages to the subscription's handler
 * and enforces the parts of the `Broker` contract that live in the client, whatever the broker:
 *
 * - **Prefetch.** At most `prefetch` deliveries are unsettled at once. Pull adapters ask `free` /
 *   `waitForSlot()` before taking more from the broker; a message pushed beyond that (a push broker's window
 *   briefly larger than ours, e.g. right after a reconnect) waits in a backlog until a slot frees.
 * - **Settle once.** `ack`, `nack` and `extend` act once per delivery; a second settlement, or one after the
 *   lease ran out or the subscription released the message, is a no-op.
 * - **Lease.** Each delivery has a local lease of `leaseMs` (renewed by `extend`). When it runs out the
 *   delivery is over for this consumer: the slot is freed and the adapter's `expire` gives the message back
 *   (or leaves it to the broker's own lease, e.g. JetStream's ack wait or a Redis pending-entry claim).
 *   Leases are kept in one list ordered by deadline with one timer for the earliest, not a timer per
 *   delivery (a timer per message was a measurable part of the adapters' per-message cost).
 * - **Handler failure.** A handler that throws or rejects without settling gets its delivery nacked (no delay).
 *   A handler that returns without settling keeps the lease until it settles or the lease runs out.
 * - **Close.** `close()` refuses new deliveries (they are released at once), waits for running handlers
 *   (their settlements apply), then releases every delivery still unsettled and everything in the backlog.
 * - **Lost channel.** `drop(filter)` ends deliveries the broker has already taken back (their channel or
 *   session died): settling them later is a no-op, and their slots are free for the redeliveries.
 *
 * The adapter supplies `Settlement`, the broker-specific effect of each outcome on a raw message `R`.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Delivery, DeliveryHandler, NackOptions, ReceivedMessage } from '../broker.js';
import { delayOf } from './options.js';

export interface Settlement<R> {
  ack(raw: R): Promise<void>;
  /** Deliver again (to any consumer of the group) no earlier than `delayMs` from now, counting an attempt. */
  nack(raw: R, delayMs: number): Promise<void>;
  /** Renew the broker's own lease, where the broker has one. */
  extend(raw: R, ms: number): Promise<void>;
  /** The local lease ran out while the handler kept the message: make it available to the group again. */
  expire(raw: R): Promise<void>;
  /** The subscription is closing with this message unsettled: give it back to the group. */
  release(raw: R): Promise<void>;
}

export interface DispatcherOptions<R> {
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly clock: Clock;
  readonly handler: DeliveryHandler;
  readonly settlement: Settlement<R>;
  /** Called when a settlement or broker call fails in the background (e.g. the connection is gone). */
  readonly onError?: (error: unknown) => void;
}

type State = 'leased' | 'settled' | 'expired' | 'released';

class KitDelivery<R> implements Delivery {
  state: State = 'leased';
  /** When the local lease runs out (`clock.now()` ms). */
  deadline = 0;
  /** Neighbours in the dispatcher's lease list (ordered by deadline). */
  prev: KitDelivery<R> | undefined = undefined;
  next: KitDelivery<R> | undefined = undefined;

  constructor(
    readonly message: ReceivedMessage,
    readonly raw: R,
    private readonly owner: Dispatcher<R>,
  ) {}

  ack(): Promise<void> {
    return this.owner.settle(this, 'ack', 0);
  }

  nack(options?: NackOptions): Promise<void> {
    return this.owner.settle(this, 'nack', delayOf(options?.delayMs));
  }

  extend(ms?: number): Promise<void> {
    return this.owner.extend(this, ms);
  }
}

export class Dispatcher<R> {
  /** Leased deliveries, a doubly linked list ordered by lease deadline (ties: in arming order). */
  private head: KitDelivery<R> | undefined;
  private tail: KitDelivery<R> | undefined;
  private leasedCount = 0;
  /**
   * One timer for all leases, due at (or before) the head's deadline. It is not cleared when the head is
   * settled: it fires at the old deadline, finds nothing due and re-arms for the new head. So a delivery
   * costs no timer of its own, and a busy subscription arms about one timer per lease period.
   */
  private leaseTimer: TimerHandle | undefined;
  private leaseTimerAt = Infinity;
  private backlog: Array<{ message: ReceivedMessage; raw: R }> = [];
  private pumping = false;
  private running = 0;
  private closed = false;
  private idle: (() => void) | undefined;
  private slotWaiters: Array<{ readonly wanted: number; readonly resolve: () => void }> = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly options: DispatcherOptions<R>) {}

  /** Deliveries handed out and not yet settled. */
  get unsettled(): number {
    return this.leasedCount;
  }

  /** How many more deliveries may be dispatched now. */
  get free(): number {
    return this.closed ? 0 : Math.max(0, this.options.prefetch - this.leasedCount - this.backlog.length);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when at least one slot is free, or when the dispatcher closes (then `free` is 0). */
  waitForSlot(): Promise<void> {
    return this.waitForSlots(1);
  }

  /** Resolves when at least `n` slots are free (at most `prefetch` are waited for), or when the dispatcher closes. */
  waitForSlots(n: number): Promise<void> {
    const wanted = Math.min(Math.max(1, n), this.options.prefetch);
    if (this.free >= wanted || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => this.slotWaiters.push({ wanted, resolve }));
  }

  /** Hand `message` to the handler. After `close()` began the message is released instead. */
  dispatch(message: ReceivedMessage, raw: R): void {
    if (this.closed) {
      this.background(this.options.settlement.release(raw));
      return;
    }
    if (this.leasedCount >= this.options.prefetch) {
      this.backlog.push({ message, raw });
      return;
    }
    const delivery = new KitDelivery(message, raw, this);
    this.leasedCount++;
    this.arm(delivery, this.options.leaseMs);
    this.running++;
    let result: unknown;
    try {
      result = this.options.handler(delivery);
    } catch (error) {
      this.failed(delivery, error);
      return;
    }
    if (isThenable(result)) result.then(this.finished, (error: unknown) => this.failed(delivery, error));
    else this.finished();
  }

  /** End, without any broker action, the deliveries (and backlog entries) whose raw message matches. */
  drop(filter: (raw: R) => boolean): void {
    this.backlog = this.backlog.filter((b) => !filter(b.raw));
    for (const delivery of this.leasedList()) if (filter(delivery.raw)) this.end(delivery, 'released');
  }

  /** Stop dispatching, wait for running handlers, release what is still unsettled. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** @internal Settle a delivery (called by `KitDelivery`). */
  settle(delivery: KitDelivery<R>, outcome: 'ack' | 'nack', delayMs: number): Promise<void> {
    if (!this.end(delivery, 'settled')) return Promise.resolve();
    const { settlement } = this.options;
    return outcome === 'ack' ? settlement.ack(delivery.raw) : settlement.nack(delivery.raw, delayMs);
  }

  /** @internal Renew a delivery's lease (called by `KitDelivery`). */
  extend(delivery: KitDelivery<R>, ms: number | undefined): Promise<void> {
    if (delivery.state !== 'leased') return Promise.resolve();
    const leaseMs = ms !== undefined && Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : this.options.leaseMs;
    this.unlink(delivery);
    this.arm(delivery, leaseMs);
    return this.options.settlement.extend(delivery.raw, leaseMs);
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.wakeSlotWaiters();
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    const releases: Promise<void>[] = this.backlog.map((b) => this.options.settlement.release(b.raw));
    this.backlog = [];
    for (const delivery of this.leasedList()) {
      if (this.end(delivery, 'released')) releases.push(this.options.settlement.release(delivery.raw));
    }
    if (this.leaseTimer !== undefined) this.options.clock.clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
    this.leaseTimerAt = Infinity;
    const results = await Promise.allSettled(releases);
    for (const r of results) if (r.status === 'rejected') this.options.onError?.(r.reason);
  }

  /** A snapshot of the leased deliveries (ending one while iterating is then safe). */
  private leasedList(): Array<KitDelivery<R>> {
    const out: Array<KitDelivery<R>> = [];
    for (let d = this.head; d !== undefined; d = d.next) out.push(d);
    return out;
  }

  /** Move a leased delivery to a final state; false if it was already over. */
  private end(delivery: KitDelivery<R>, state: State): boolean {
    if (delivery.state !== 'leased') return false;
    delivery.state = state;
    this.unlink(delivery);
    this.leasedCount--;
    if (this.backlog.length > 0 && !this.pumping) {
      this.pumping = true;
      queueMicrotask(this.pump);
    }
    if (this.slotWaiters.length > 0) this.wakeSlotWaiters();
    return true;
  }

  /** Dispatch from the backlog while slots are free (deferred: `end` may run inside a handler's ack). */
  private readonly pump = (): void => {
    this.pumping = false;
    while (this.backlog.length > 0 && !this.closed && this.leasedCount < this.options.prefetch) {
      const next = this.backlog.shift()!;
      this.dispatch(next.message, next.raw);
    }
  };

  /** Put `delivery` (not in the list) into the lease list, due `ms` from now. */
  private arm(delivery: KitDelivery<R>, ms: number): void {
    const deadline = this.options.clock.now() + ms;
    delivery.deadline = deadline;
    // Almost always the latest deadline: append. Otherwise (a shorter `extend`, a clock step back) walk back.
    let after = this.tail;
    while (after !== undefined && after.deadline > deadline) after = after.prev;
    delivery.prev = after;
    if (after === undefined) {
      delivery.next = this.head;
      this.head = delivery;
    } else {
      delivery.next = after.next;
      after.next = delivery;
    }
    if (delivery.next === undefined) this.tail = delivery;
    else delivery.next.prev = delivery;
    if (deadline < this.leaseTimerAt) this.armTimer(deadline, ms);
  }

  private unlink(delivery: KitDelivery<R>): void {
    const { prev, next } = delivery;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    delivery.prev = undefined;
    delivery.next = undefined;
  }

  private armTimer(at: number, ms: number): void {
    const { clock } = this.options;
    if (this.leaseTimer !== undefined) clock.clearTimeout(this.leaseTimer);
    this.leaseTimerAt = at;
    this.leaseTimer = clock.setTimeout(this.sweep, ms);
  }

  /** The lease timer fired: expire every delivery whose lease ran out, re-arm for the next one. */
  private readonly sweep = (): void => {
    this.leaseTimer = undefined;
    this.leaseTimerAt = Infinity;
    const now = this.options.clock.now();
    for (let d = this.head; d !== undefined && d.deadline <= now; d = this.head) {
      if (this.end(d, 'expired')) this.background(this.options.settlement.expire(d.raw));
    }
    const head = this.head;
    if (head !== undefined) this.armTimer(head.deadline, Math.max(1, head.deadline - now));
  };

  private failed(delivery: KitDelivery<R>, _error: unknown): void {
    if (delivery.state === 'leased') this.background(this.settle(delivery, 'nack', 0));
    this.finished();
  }

  private readonly finished = (): void => {
    this.running--;
    if (this.running === 0 && this.idle !== undefined) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  };

  private wakeSlotWaiters(): void {
    const free = this.free;
    if (this.slotWaiters.length === 0 || (free === 0 && !this.closed)) return;
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const w of waiters) {
      if (this.closed || free >= w.wanted) w.resolve();
      else this.slotWaiters.push(w);
    }
  }

  private background(work: Promise<void>): void {
    work.catch((error: unknown) => this.options.onError?.(error));
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
