/**
 * One member of a Kafka consumer group (kafkajs `Consumer`). kafkajs calls `eachMessage` for one record of a
 * partition at a time and waits for it; the adapter makes that wait last until the delivery is settled, so a
 * partition (and so a key) is handled strictly in order and `prefetch` = partitions handled at once.
 *
 * Settlement:
 * - ack: commit offset + 1 for the partition;
 * - nack (and lease expiry): seek the partition back to the record (kafkajs drops the rest of the fetched
 *   batch and fetches again from there), pausing the partition for the delay if there is one; the attempt is
 *   counted in memory (`attempts.ts`);
 * - extend: nothing (no per-message lease in Kafka); the adapter's own lease still ends a stuck delivery;
 * - release (close): nothing committed, so the group's next owner of the partition reads the record again.
 */
import type { Consumer, EachMessagePayload } from 'kafkajs';
import type { Clock } from '../../core/clock.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import type { AttemptCounter } from './attempts.js';
import { runConfig } from './config.js';
import { fromKafkaMessage } from './headers.js';

export interface KafkaSubscriptionContext {
  readonly topic: string;
  readonly group: string;
  readonly consumer: Consumer;
  readonly attempts: AttemptCounter;
  readonly clock: Clock;
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly onError: (error: unknown) => void;
  readonly onClosed: (subscription: KafkaSubscription) => void;
}

interface Raw {
  readonly partition: number;
  readonly offset: string;
  /** Lets kafkajs go on with the partition. */
  readonly done: () => void;
}

export class KafkaSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<Raw>;
  private stopping = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: KafkaSubscriptionContext,
    handler: DeliveryHandler,
  ) {
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

  async start(): Promise<void> {
    await this.ctx.consumer.run({ ...runConfig(this.ctx.prefetch), eachMessage: (payload) => this.each(payload) });
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    this.ctx.consumer.pause([{ topic: this.ctx.topic }]);
    await this.dispatcher.close();
    await this.ctx.consumer.disconnect().catch(this.ctx.onError);
    this.ctx.onClosed(this);
  }

  private each({ topic, partition, message: record }: EachMessagePayload): Promise<void> {
    if (this.stopping) return Promise.resolve(); // not committed: the next owner reads it again
    const decoded = fromKafkaMessage(record, topic, partition);
    const message: ReceivedMessage = {
      id: decoded.id,
      topic,
      key: decoded.key,
      headers: decoded.headers,
      body: decoded.body,
      attempt: this.ctx.attempts.current(topic, partition, record.offset),
      sequence: BigInt(record.offset),
      publishedAt: decoded.publishedAt,
    };
    return new Promise<void>((done) => this.dispatcher.dispatch(message, { partition, offset: record.offset, done }));
  }

  private readonly settlement: Settlement<Raw> = {
    ack: async (raw) => {
      try {
        await this.ctx.consumer.commitOffsets([{ topic: this.ctx.topic, partition: raw.partition, offset: (BigInt(raw.offset) + 1n).toString() }]);
        this.ctx.attempts.settled(this.ctx.topic, raw.partition, raw.offset);
      } finally {
        raw.done();
      }
    },
    nack: async (raw, delayMs) => this.redeliver(raw, delayMs),
    extend: async () => undefined,
    expire: async (raw) => this.redeliver(raw, 0),
    release: async (raw) => {
      this.ctx.attempts.redelivering(this.ctx.topic, raw.partition, raw.offset);
      raw.done();
    },
  };

  private async redeliver(raw: Raw, delayMs: number): Promise<void> {
    const { consumer, topic } = this.ctx;
    this.ctx.attempts.redelivering(topic, raw.partition, raw.offset);
    try {
      consumer.seek({ topic, partition: raw.partition, offset: raw.offset });
      if (delayMs > 0) {
        consumer.pause([{ topic, partitions: [raw.partition] }]);
        this.ctx.clock.setTimeout(() => {
          if (!this.stopping) consumer.resume([{ topic, partitions: [raw.partition] }]);
        }, delayMs);
      }
    } finally {
      raw.done();
    }
  }
}
