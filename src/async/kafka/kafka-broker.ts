/**
 * Courier's `Broker` on Apache Kafka, a thin adapter over kafkajs 2.x. NOT run against a Kafka broker (none
 * is installable on the machines this was built on); docs/adapters/kafka.md lists what was and was not
 * verified.
 *
 * ```ts
 * import { kafkaBroker } from 'courier/kafka';
 * const broker = kafkaBroker({ brokers: ['127.0.0.1:9092'] });
 * ```
 *
 * - topic → Kafka topic (created by the operator; no auto-creation); publish → `producer.send` with
 *   `acks: -1`, idempotent producer, record key = message key; resolves with the record's offset.
 * - group → consumer group; each subscription is one member (`subscription.ts`); a partition is handled one
 *   record at a time, so per-key order holds.
 * - seek → the admin client moves the group's committed offsets (Kafka requires the group to have no
 *   running members for that); a `sequence` is an offset applied to every partition, so it is meaningful
 *   for single-partition topics.
 */
import { Kafka, type Admin, type Producer } from 'kafkajs';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import type { Broker, BrokerFeatures, DeliveryHandler, Lag, OutgoingMessage, PublishReceipt, StartPosition, SubscribeOptions, Subscription } from '../broker.js';
import { checkName, checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, positiveInt, resolveSubscribeOptions } from '../adapter-kit/options.js';
import { AttemptCounter } from './attempts.js';
import { ACKS_ALL, clientConfig, consumerConfig, producerConfig } from './config.js';
import { kafkaFeatures } from './features.js';
import { toKafkaMessage } from './headers.js';
import { kafkaLag } from './lag.js';
import type { KafkaBrokerOptions } from './options.js';
import { KafkaSubscription } from './subscription.js';

export class KafkaBroker implements Broker {
  readonly name = 'kafka';
  readonly features: BrokerFeatures;
  private readonly kafka: Kafka;
  private readonly clock: Clock;
  private readonly sessionTimeoutMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly attempts = new AttemptCounter();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private producer: Promise<Producer> | undefined;
  private admin: Promise<Admin> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: KafkaBrokerOptions) {
    this.features = kafkaFeatures(positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'));
    this.kafka = options.kafka ?? new Kafka(clientConfig(options));
    this.clock = options.clock ?? systemClock;
    this.sessionTimeoutMs = positiveInt(options.sessionTimeoutMs, 30_000, 'sessionTimeoutMs');
    this.onError = options.onError ?? (() => undefined);
  }

  async publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) throw new ClosedError('kafka broker');
    checkOutgoing(topic, message, this.features.maxMessageBytes);
    if ((message.delayMs ?? 0) > 0) throw new TypeError('kafka broker: delayed publish is not supported (features.delay is false)');
    const producer = await this.connectedProducer();
    const [meta] = await producer.send({ topic, acks: ACKS_ALL, messages: [toKafkaMessage(message)] });
    const offset = meta?.baseOffset ?? meta?.offset;
    return { id: message.id, sequence: offset === undefined ? undefined : BigInt(offset) };
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('kafka broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    if (resolved.start.from === 'sequence' || resolved.start.from === 'time') {
      if (!(await this.groupHasOffsets(topic, resolved.group))) await this.seek(topic, resolved.group, resolved.start);
    }
    const consumer = this.kafka.consumer(consumerConfig(resolved.group, this.features.maxMessageBytes, this.sessionTimeoutMs));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: resolved.start.from === 'earliest' });
    const subscription = new KafkaSubscription(
      {
        topic,
        group: resolved.group,
        consumer,
        attempts: this.attempts,
        clock: this.clock,
        prefetch: resolved.prefetch,
        leaseMs: resolved.leaseMs,
        onError: this.onError,
        onClosed: (s) => this.subscriptions.delete(s),
      },
      handler,
    );
    this.subscriptions.add(subscription);
    await subscription.start();
    return subscription;
  }

  async seek(topic: string, group: string, position: StartPosition): Promise<void> {
    if (this.closed) throw new ClosedError('kafka broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    const admin = await this.connectedAdmin();
    switch (position.from) {
      case 'earliest':
      case 'latest':
        await admin.resetOffsets({ groupId: group, topic, earliest: position.from === 'earliest' });
        return;
      case 'sequence': {
        const offsets = await admin.fetchTopicOffsets(topic);
        const offset = BigInt(position.sequence).toString();
        await admin.setOffsets({ groupId: group, topic, partitions: offsets.map((p) => ({ partition: p.partition, offset })) });
        return;
      }
      case 'time':
        await admin.setOffsets({ groupId: group, topic, partitions: await admin.fetchTopicOffsetsByTimestamp(topic, position.time) });
        return;
      default:
        throw new TypeError(`unknown start position ${JSON.stringify(position)}`);
    }
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('kafka broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    let inFlight = 0;
    for (const s of this.subscriptions) if (s.topic === topic && s.group === group) inFlight += s.inFlight;
    return kafkaLag(await this.connectedAdmin(), topic, group, inFlight);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    const producer = await this.producer?.catch(() => undefined);
    await producer?.disconnect();
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect();
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.kafka.producer(producerConfig());
      await producer.connect();
      return producer;
    })();
    this.producer.catch(() => (this.producer = undefined));
    return this.producer;
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.admin.catch(() => (this.admin = undefined));
    return this.admin;
  }

  private async groupHasOffsets(topic: string, group: string): Promise<boolean> {
    const admin = await this.connectedAdmin();
    const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return committed.some((t) => t.partitions.some((p) => BigInt(p.offset) >= 0n));
  }
}

/** A broker on Kafka (kafkajs). See `KafkaBrokerOptions`. */
export function kafkaBroker(options: KafkaBrokerOptions): KafkaBroker {
  return new KafkaBroker(options);
}
