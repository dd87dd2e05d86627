/**
 * What the RabbitMQ adapter can do (see `BrokerFeatures`).
 *
 * - persistence `broker`: durable queues, persistent messages, publisher confirms; a classic queue's
 *   confirm comes once the message is written (fsynced in batches), a quorum queue's once a majority has it.
 * - delay: nack delay through per-group retry queues and delayed publish through per-topic delay queues
 *   (message TTL + dead-lettering), both rounded up to a bucket at most 12.5 % longer (`delay-buckets.ts`).
 * - leaseExtension: the lease is kept by the adapter (AMQP has none; the server only redelivers when the
 *   channel closes, or after its `consumer_timeout`, 30 min by default).
 * - no replay (queues forget what was acked), no per-key order, no dedup.
 */
import type { BrokerFeatures } from '../broker.js';

export function amqpFeatures(maxMessageBytes: number): BrokerFeatures {
  return {
    persistence: 'broker',
    orderingByKey: false,
    replay: false,
    delay: true,
    dedup: false,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: true,
    maxMessageBytes,
  };
}
