/**
 * Courier's `Broker` on RabbitMQ (AMQP 0-9-1, amqplib; tested with RabbitMQ 3.10).
 *
 * ```ts
 * import { amqpBroker } from 'courier/amqp';
 * const broker = amqpBroker({ url: 'amqp://guest:guest@127.0.0.1:5672', queueType: 'quorum' });
 * ```
 *
 * - topic → durable topic exchange; group → durable queue bound with `#` (`topology.ts`), declared when a
 *   subscription of the group starts: a group receives what is published after its queue exists.
 * - publish → persistent message with publisher confirms; resolves on the confirm, re-published after a
 *   connection loss until confirmed (`publisher.ts`). Message layout: `headers.ts`.
 * - subscribe → a channel per subscription, `basic.qos(prefetch)`, manual acks (`subscription.ts`).
 * - delays → TTL queues that dead-letter back (`delay-buckets.ts`, `topology.ts`).
 * - the connection is re-established with backoff (`connector.ts`); subscriptions re-consume after it.
 */
import type { Options } from 'amqplib';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import type { Broker, BrokerFeatures, DeliveryHandler, Lag, OutgoingMessage, PublishReceipt, SubscribeOptions, Subscription } from '../broker.js';
import { checkName, checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, positiveInt, resolveSubscribeOptions } from '../adapter-kit/options.js';
import { AmqpConnector } from './connector.js';
import { delayBucket } from './delay-buckets.js';
import { amqpFeatures } from './features.js';
import { publishOptions } from './headers.js';
import { amqpLag } from './lag.js';
import type { AmqpBrokerOptions } from './options.js';
import { AmqpPublisher } from './publisher.js';
import { AmqpSubscription } from './subscription.js';
import { declareDelayQueue, declareExchange, expiresFor, TopologyNames } from './topology.js';

export class AmqpBroker implements Broker {
  readonly name = 'amqp';
  readonly features: BrokerFeatures;
  private readonly connector: AmqpConnector;
  private readonly publisher: AmqpPublisher;
  private readonly names: TopologyNames;
  private readonly queueType: 'classic' | 'quorum';
  private readonly clock: Clock;
  private readonly onError: (error: unknown) => void;
  private readonly subscriptions = new Set<AmqpSubscription>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: AmqpBrokerOptions = {}) {
    this.features = amqpFeatures(positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'));
    this.names = new TopologyNames(options.prefix ?? '');
    this.queueType = options.queueType ?? 'classic';
    if (this.queueType !== 'classic' && this.queueType !== 'quorum') throw new TypeError(`amqpBroker: unknown queueType ${String(this.queueType)}`);
    this.clock = options.clock ?? systemClock;
    this.onError = options.onError ?? (() => undefined);
    this.connector = new AmqpConnector({
      url: options.url ?? 'amqp://guest:guest@127.0.0.1:5672',
      socketOptions: options.socketOptions,
      baseMs: positiveInt(options.reconnectBaseMs, 100, 'reconnectBaseMs'),
      maxMs: positiveInt(options.reconnectMaxMs, 5000, 'reconnectMaxMs'),
      onError: this.onError,
    });
    this.publisher = new AmqpPublisher(this.connector, this.onError);
  }

  async publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) throw new ClosedError('amqp broker');
    checkOutgoing(topic, message, this.features.maxMessageBytes);
    const exchange = this.names.exchange(topic);
    const options: Options.Publish = publishOptions(message, this.clock.now());
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const bucket = delayBucket(message.delayMs ?? 0);
    if (bucket === 0) {
      await this.publisher.publish(exchange, message.key ?? '', content, options, { key: `exchange:${exchange}`, declare: (ch) => declareExchange(ch, exchange) });
    } else {
      const queue = this.names.delayQueue(topic, bucket);
      await this.publisher.publish('', queue, content, options, {
        key: `delay:${queue}`,
        declare: (ch) => declareDelayQueue(ch, queue, exchange, bucket),
        maxAgeMs: expiresFor(bucket) / 4,
      });
    }
    return { id: message.id };
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('amqp broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    if (resolved.start.from !== 'latest') throw new TypeError(`amqp broker: start position '${resolved.start.from}' needs replay, which RabbitMQ queues do not have`);
    const subscription = new AmqpSubscription(
      {
        topic,
        group: resolved.group,
        names: this.names,
        queueType: this.queueType,
        connector: this.connector,
        publisher: this.publisher,
        clock: this.clock,
        prefetch: resolved.prefetch,
        leaseMs: resolved.leaseMs,
        onError: this.onError,
        onClosed: (s) => this.subscriptions.delete(s),
      },
      handler,
    );
    await subscription.start();
    this.subscriptions.add(subscription);
    return subscription;
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('amqp broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    let inFlight = 0;
    const queues = new Set([this.names.queue(topic, group)]);
    for (const s of this.subscriptions) {
      if (s.topic !== topic || s.group !== group) continue;
      inFlight += s.inFlight;
      for (const retry of s.retryQueues) queues.add(retry);
    }
    return amqpLag(await this.connector.current(), [...queues], inFlight);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.publisher.close();
    await this.connector.close();
  }
}

/** A broker on RabbitMQ. See `AmqpBrokerOptions`. */
export function amqpBroker(options: AmqpBrokerOptions = {}): AmqpBroker {
  return new AmqpBroker(options);
}
