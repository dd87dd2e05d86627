/**
 * One puller of a group's durable JetStream consumer. It fetches at most as many messages as it has free
 * prefetch slots (`fetch({ max_messages })`, each pull waiting up to `pullExpiresMs`), so the server never
 * hands it more than it may hold. Pulls overlap (a new one for the slots freed since, once they are a quarter
 * of the prefetch), the way the client's own `consume()` keeps messages flowing, but bounded by the free
 * slots rather than by the messages received.
 *
 * Settlement: ack → `ack()`, the acks of one event-loop turn sent together (`TurnBatch`: one socket write
 * instead of one per ack); nack → `nak(delay)`; extend → `working()` (repeated for extensions longer than
 * the ack wait); lease expiry → nothing, JetStream redelivers after its ack wait (equal to the lease);
 * release (close) → `nak()`. The attempt is JetStream's delivery count.
 *
 * Close waits for the open pulls to expire (at most `pullExpiresMs`) before giving messages back; see
 * `doClose` for why.
 *
 * Connection loss: the client reconnects by itself; a pull that fails is retried with backoff, and a pull
 * against a consumer that was deleted and recreated (`seek`) picks up the new one.
 */
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Clock } from '../../core/clock.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import { LeaseKeeper } from '../adapter-kit/lease-keeper.js';
import { TurnBatch } from '../adapter-kit/turn-batch.js';
import { fromNatsHeaders } from './headers.js';

export interface NatsSubscriptionContext {
  readonly topic: string;
  readonly group: string;
  readonly stream: string;
  readonly consumer: string;
  readonly js: JetStreamClient;
  readonly clock: Clock;
  readonly prefetch: number;
  /** The consumer's ack wait, in ms: the lease. */
  readonly leaseMs: number;
  readonly pullExpiresMs: number;
  readonly onError: (error: unknown) => void;
  readonly onClosed: (subscription: NatsSubscription) => void;
}

export class NatsSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<JsMsg>;
  private readonly keeper: LeaseKeeper<JsMsg>;
  private readonly acks = new TurnBatch<JsMsg>((m) => m.ack());
  private stopping = false;
  private stop: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.stop = resolve));
  /** Messages that arrived after close began: given back once the pull has ended. */
  private readonly late: JsMsg[] = [];
  private loopDone: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: NatsSubscriptionContext,
    handler: DeliveryHandler,
  ) {
    this.keeper = new LeaseKeeper<JsMsg>(ctx.clock, ctx.leaseMs, async (m) => m.working(), ctx.onError);
    this.dispatcher = new Dispatcher<JsMsg>({
      prefetch: ctx.prefetch,
      leaseMs: ctx.leaseMs,
      clock: ctx.clock,
      handler,
      settlement: this.settlement,
      onError: ctx.onError,
    });
    this.renewPullEnded();
  }

  get topic(): string {
    return this.ctx.topic;
  }

  get group(): string {
    return this.ctx.group;
  }

  start(consumer: Consumer): void {
    this.loopDone = this.loop(consumer);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    this.stop();
    // Let the open pull run out (≤ pullExpiresMs) rather than cancel it: nats-server 2.9 mishandles a NAK
    // that races with a cancelled pull request (it rewinds the consumer and the message comes back as a new
    // delivery with delivery count 1). Once the pull has expired, the server holds no request of ours.
    await this.loopDone;
    await this.dispatcher.close();
    this.acks.flush();
    for (const m of this.late.splice(0)) m.nak();
    this.keeper.stopAll();
    this.ctx.onClosed(this);
  }

  private async loop(first: Consumer): Promise<void> {
    let consumer: Consumer | undefined = first;
    let failures = 0;
    // Pulls overlap: a new one asks for the free slots not already asked for, as soon as that is at least a
    // quarter of the prefetch (or anything, when no pull is open). So messages keep flowing while earlier
    // pulls are still being filled, and the messages asked for never exceed the free slots: the server never
    // hands this consumer more than `prefetch` unsettled messages.
    const refill = Math.max(1, Math.floor(this.ctx.prefetch / 4));
    const pulls = new Set<Promise<void>>();
    while (!this.stopping) {
      if (this.pullError !== undefined) {
        const error = this.pullError;
        this.pullError = undefined;
        if (this.stopping) break;
        this.ctx.onError(error);
        consumer = undefined; // look it up again: it may have been recreated by a seek
        failures++;
        await Promise.race([this.stopped, new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** Math.min(failures, 6))))]);
        continue;
      }
      const want = this.dispatcher.free - this.requested;
      const enough = pulls.size > 0 ? refill : 1;
      if (want < enough) {
        // Wait until enough slots are free beyond those already asked for, or until a pull ends (its
        // unanswered requests are then free to ask for again). When the slots wanted exceed the prefetch,
        // only a pull's end can make room, so waiting on slots would resolve at once and spin.
        const needed = this.requested + enough;
        const slots = needed <= this.ctx.prefetch ? this.dispatcher.waitForSlots(needed) : this.pullEnded;
        await Promise.race([slots, this.pullEnded, this.stopped]);
        continue;
      }
      try {
        consumer ??= await this.ctx.js.consumers.get(this.ctx.stream, this.ctx.consumer);
      } catch (error) {
        this.pullError = error;
        continue;
      }
      if (this.stopping) break;
      const pull = this.pull(consumer, want).then(() => {
        pulls.delete(pull);
        if (this.pullError === undefined) failures = 0;
      });
      pulls.add(pull);
    }
    // Let open pulls run out (see doClose).
    await Promise.all([...pulls]);
  }

  /** Messages asked for by open pulls and not received yet. */
  private requested = 0;
  private pullError: unknown;
  /** Resolves when a pull ends; replaced by a fresh one each time (one promise shared by all waits). */
  private pullEnded!: Promise<void>;
  private endPull: () => void = () => undefined;

  private renewPullEnded(): void {
    this.pullEnded = new Promise<void>((resolve) => (this.endPull = resolve));
  }

  /** One pull of `want` messages, dispatched as they arrive; never rejects (failures go to `pullError`). */
  private async pull(consumer: Consumer, want: number): Promise<void> {
    this.requested += want;
    let received = 0;
    try {
      const batch = await consumer.fetch({ max_messages: want, expires: this.ctx.pullExpiresMs });
      for await (const m of batch) {
        if (received < want) {
          received++;
          this.requested--;
        }
        this.accept(m);
      }
    } catch (error) {
      this.pullError ??= error;
    } finally {
      this.requested -= want - received;
      const wake = this.endPull;
      this.renewPullEnded();
      wake();
    }
  }

  private accept(m: JsMsg): void {
    if (this.stopping) {
      this.late.push(m);
      return;
    }
    const decoded = fromNatsHeaders(m.headers);
    const message: ReceivedMessage = {
      id: decoded.id ?? `${this.ctx.stream}:${m.seq}`,
      topic: this.ctx.topic,
      key: decoded.key,
      headers: decoded.headers,
      body: m.data,
      attempt: m.info.deliveryCount,
      sequence: m.seq,
      publishedAt: Math.floor(Number(m.info.timestampNanos) / 1e6),
    };
    this.dispatcher.dispatch(message, m);
  }

  private readonly settlement: Settlement<JsMsg> = {
    ack: (m) => {
      this.keeper.stop(m);
      return this.acks.add(m);
    },
    nack: async (m, delayMs) => {
      this.keeper.stop(m);
      if (delayMs > 0) m.nak(delayMs);
      else m.nak();
    },
    extend: (m, ms) => this.keeper.extend(m, ms),
    expire: async (m) => this.keeper.stop(m),
    release: async (m) => {
      this.keeper.stop(m);
      m.nak();
    },
  };
}
