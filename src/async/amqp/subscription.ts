/**
 * One consumer of a group's queue: its own channel with `basic.qos(prefetch)` and manual acks, brought back
 * after a channel or connection loss (the broker requeues what the lost channel had unacked, and the
 * deliveries of the dead channel are dropped locally: settling them is a no-op).
 *
 * Settlement:
 * - ack: `basic.ack`, coalesced per turn into one `basic.ack(multiple)` for each settled run (`ack-coalescer.ts`);
 * - nack (and lease expiry): publish a copy counting the next attempt, confirmed, to the group queue (no
 *   delay) or to the group's retry queue for the delay bucket; then `basic.ack` the original. A crash in
 *   between leaves both: a duplicate, never a loss;
 * - extend: nothing on the wire (the lease is the adapter's, see `features.ts`);
 * - release (close): `basic.nack` with requeue; the redelivery carries the `redelivered` flag (attempt + 1).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Clock } from '../../core/clock.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import { AckCoalescer, type AckEntry } from './ack-coalescer.js';
import type { AmqpConnector } from './connector.js';
import { delayBucket } from './delay-buckets.js';
import { copyOptions, decodeDelivery } from './headers.js';
import type { AmqpPublisher } from './publisher.js';
import { declareGroupQueue, declareRetryQueue, expiresFor, type TopologyNames } from './topology.js';

export interface AmqpSubscriptionContext {
  readonly topic: string;
  readonly group: string;
  readonly names: TopologyNames;
  readonly queueType: 'classic' | 'quorum';
  readonly connector: AmqpConnector;
  readonly publisher: AmqpPublisher;
  readonly clock: Clock;
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly onError: (error: unknown) => void;
  readonly onClosed: (subscription: AmqpSubscription) => void;
}

interface Raw {
  readonly ch: Channel;
  readonly msg: ConsumeMessage;
  readonly attempt: number;
  /** The channel's ack coalescer and this delivery's place in it. */
  readonly acks: AckCoalescer;
  readonly entry: AckEntry;
}

export class AmqpSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<Raw>;
  /** Retry queues this subscription has sent nacked messages to (for `lag`). */
  readonly retryQueues = new Set<string>();
  private readonly exchange: string;
  private readonly queue: string;
  private channel: Channel | undefined;
  /** The current channel's ack coalescer. */
  private acks: AckCoalescer | undefined;
  private consumerTag: string | undefined;
  private stopping = false;
  private attaching: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: AmqpSubscriptionContext,
    handler: DeliveryHandler,
  ) {
    this.exchange = ctx.names.exchange(ctx.topic);
    this.queue = ctx.names.queue(ctx.topic, ctx.group);
    this.dispatcher = new Dispatcher<Raw>({
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

  get inFlight(): number {
    return this.dispatcher.unsettled;
  }

  /** Declare the group's queue and start consuming; resolves once consuming (first attempt's errors throw). */
  async start(): Promise<void> {
    await this.attach();
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    await this.attaching?.catch(() => undefined);
    const ch = this.channel;
    if (ch !== undefined && this.consumerTag !== undefined) await ch.cancel(this.consumerTag).catch(() => undefined);
    await this.dispatcher.close();
    this.acks?.flush();
    if (ch !== undefined) await ch.close().catch(() => undefined);
    this.channel = undefined;
    this.ctx.onClosed(this);
  }

  private attach(): Promise<void> {
    const attaching = this.doAttach();
    this.attaching = attaching;
    return attaching;
  }

  private async doAttach(): Promise<void> {
    const model = await this.ctx.connector.current();
    const ch = await model.createChannel();
    ch.on('error', this.ctx.onError);
    ch.once('close', () => this.lost(ch));
    try {
      await ch.prefetch(this.ctx.prefetch);
      await declareGroupQueue(ch, this.exchange, this.queue, this.ctx.queueType);
      this.channel = ch;
      const acks = new AckCoalescer(ch);
      this.acks = acks;
      const { consumerTag } = await ch.consume(this.queue, (msg) => this.receive(ch, acks, msg), { noAck: false });
      this.consumerTag = consumerTag;
    } catch (error) {
      await ch.close().catch(() => undefined);
      throw error;
    }
  }

  /** The channel died (connection loss, channel error, or our own close). */
  private lost(ch: Channel): void {
    this.dispatcher.drop((raw) => raw.ch === ch);
    if (this.channel === ch) this.channel = undefined;
    if (this.stopping) return;
    void this.reattach();
  }

  private async reattach(): Promise<void> {
    for (let failures = 0; !this.stopping; failures++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** Math.min(failures, 6))));
      if (this.stopping) return;
      try {
        await this.attach();
        return;
      } catch (error) {
        if (this.stopping) return;
        this.ctx.onError(error);
      }
    }
  }

  private receive(ch: Channel, acks: AckCoalescer, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The server cancelled the consumer (queue deleted): start over on a fresh channel.
      void ch.close().catch(() => undefined);
      return;
    }
    const decoded = decodeDelivery(msg, this.exchange);
    const message: ReceivedMessage = {
      id: decoded.id,
      topic: this.ctx.topic,
      key: decoded.key,
      headers: decoded.headers,
      body: msg.content,
      attempt: decoded.attempt,
      sequence: undefined,
      publishedAt: decoded.publishedAt,
    };
    this.dispatcher.dispatch(message, { ch, msg, attempt: decoded.attempt, acks, entry: acks.received(msg) });
  }

  private readonly settlement: Settlement<Raw> = {
    ack: (raw) => raw.acks.ack(raw.entry),
    nack: (raw, delayMs) => this.redeliver(raw, delayMs),
    extend: async () => undefined,
    expire: (raw) => this.redeliver(raw, 0),
    release: async (raw) => {
      try {
        raw.ch.nack(raw.msg, false, true);
      } catch {
        // channel gone: the broker has requeued it already
      }
      raw.acks.settledElsewhere(raw.entry);
    },
  };

  /** Copy with the next attempt to the group queue (or a retry queue), confirmed; then ack the original. */
  private async redeliver(raw: Raw, delayMs: number): Promise<void> {
    const options = copyOptions(raw.msg, raw.attempt + 1);
    const bucket = delayBucket(delayMs);
    if (bucket === 0) {
      await this.ctx.publisher.publish('', this.queue, raw.msg.content, options);
    } else {
      const retry = this.ctx.names.retryQueue(this.ctx.topic, this.ctx.group, bucket);
      this.retryQueues.add(retry);
      await this.ctx.publisher.publish('', retry, raw.msg.content, options, {
        key: `retry:${retry}`,
        declare: (ch) => declareRetryQueue(ch, retry, this.queue, bucket),
        maxAgeMs: expiresFor(bucket) / 4,
      });
    }
    await raw.acks.ack(raw.entry);
  }
}
