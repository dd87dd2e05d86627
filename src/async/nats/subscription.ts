/**
 * One puller of a group's durable JetStream consumer. It fetches at most as many messages as it has free
 * prefetch slots (`fetch({ max_messages: free })`, each pull waiting up to `pullExpiresMs`), so the server
 * never hands it more than it may hold.
 *
 * Settlement: ack → `ack()`; nack → `nak(delay)`; extend → `working()` (repeated for extensions longer than
 * the ack wait); lease expiry → nothing, JetStream redelivers after its ack wait (equal to the lease);
 * release (close) → `nak()`. The attempt is JetStream's delivery count.
 *
 * Close waits for the open pull to expire (at most `pullExpiresMs`) before giving messages back; see
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
    for (const m of this.late.splice(0)) m.nak();
    this.keeper.stopAll();
    this.ctx.onClosed(this);
  }

  private async loop(first: Consumer): Promise<void> {
    let consumer: Consumer | undefined = first;
    let failures = 0;
    while (!this.stopping) {
      await Promise.race([this.dispatcher.waitForSlot(), this.stopped]);
      const free = this.dispatcher.free;
      if (this.stopping || free === 0) continue;
      try {
        consumer ??= await this.ctx.js.consumers.get(this.ctx.stream, this.ctx.consumer);
        const batch = await consumer.fetch({ max_messages: free, expires: this.ctx.pullExpiresMs });
        for await (const m of batch) this.accept(m);
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        this.ctx.onError(error);
        consumer = undefined; // look it up again: it may have been recreated by a seek
        failures++;
        await Promise.race([this.stopped, new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** Math.min(failures, 6))))]);
      }
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
    ack: async (m) => {
      this.keeper.stop(m);
      m.ack();
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
