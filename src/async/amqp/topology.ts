/**
 * The exchanges and queues behind Courier's model, their names, and their declaration.
 *
 * | Courier                     | RabbitMQ                                                                 |
 * |-----------------------------|--------------------------------------------------------------------------|
 * | topic `T`                   | durable topic exchange `<prefix>T`                                       |
 * | group `G` of `T`            | durable queue `<prefix>T.G` bound to it with `#` (so each group gets a copy) |
 * | nack delay `d` for `G`      | queue `<prefix>T.G.retry.<bucket(d)>`: TTL = bucket, dead-letters to `<prefix>T.G` |
 * | publish delay `d` on `T`    | queue `<prefix>T.delay.<bucket(d)>`: TTL = bucket, dead-letters to the exchange |
 *
 * Retry and delay queues expire (`x-expires`) when unused for twice their TTL plus a minute, which is after
 * their last message has left them. Declarations are cached per channel generation, so a steady stream of
 * publishes declares each object once.
 */
import type { Channel } from 'amqplib';

export class TopologyNames {
  constructor(private readonly prefix: string) {}

  exchange(topic: string): string {
    return this.prefix + topic;
  }

  queue(topic: string, group: string): string {
    return `${this.prefix}${topic}.${group}`;
  }

  retryQueue(topic: string, group: string, bucketMs: number): string {
    return `${this.queue(topic, group)}.retry.${bucketMs}`;
  }

  delayQueue(topic: string, bucketMs: number): string {
    return `${this.prefix}${topic}.delay.${bucketMs}`;
  }
}

export function expiresFor(bucketMs: number): number {
  return bucketMs * 2 + 60_000;
}

export async function declareExchange(ch: Channel, exchange: string): Promise<void> {
  await ch.assertExchange(exchange, 'topic', { durable: true });
}

export async function declareGroupQueue(ch: Channel, exchange: string, queue: string, queueType: 'classic' | 'quorum'): Promise<void> {
  await declareExchange(ch, exchange);
  await ch.assertQueue(queue, { durable: true, arguments: queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
  await ch.bindQueue(queue, exchange, '#');
}

export async function declareRetryQueue(ch: Channel, retryQueue: string, groupQueue: string, bucketMs: number): Promise<void> {
  await ch.assertQueue(retryQueue, {
    durable: true,
    arguments: {
      'x-message-ttl': bucketMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': groupQueue,
      'x-expires': expiresFor(bucketMs),
    },
  });
}

export async function declareDelayQueue(ch: Channel, delayQueue: string, exchange: string, bucketMs: number): Promise<void> {
  await declareExchange(ch, exchange);
  await ch.assertQueue(delayQueue, {
    durable: true,
    arguments: { 'x-message-ttl': bucketMs, 'x-dead-letter-exchange': exchange, 'x-expires': expiresFor(bucketMs) },
  });
}
