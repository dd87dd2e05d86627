/**
 * The kafkajs configuration the adapter uses, in one place so it can be checked without a broker.
 *
 * - Producer: idempotent (Kafka drops the producer's own retried duplicates), at most 5 requests in flight
 *   (the idempotent producer's limit for keeping order), no automatic topic creation (topics are created by
 *   whoever operates the cluster, with the partition count that decides the group's parallelism).
 * - Consumer: one per subscription, in the group; `maxBytesPerPartition` at least the largest message.
 * - Run: offsets are committed by the adapter (on ack), never automatically; `partitionsConsumedConcurrently`
 *   = prefetch, so at most `prefetch` messages (one per partition) are unsettled.
 */
import type { ConsumerConfig, ConsumerRunConfig, KafkaConfig, ProducerConfig } from 'kafkajs';
import type { KafkaBrokerOptions } from './options.js';

export function clientConfig(options: KafkaBrokerOptions): KafkaConfig {
  if (options.brokers === undefined || options.brokers.length === 0) throw new TypeError('kafkaBroker: `brokers` (or `kafka`) is required');
  return { clientId: options.clientId ?? 'courier', brokers: options.brokers, ...options.kafkaConfig };
}

export function producerConfig(): ProducerConfig {
  return { idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false };
}

export function consumerConfig(group: string, maxMessageBytes: number, sessionTimeoutMs: number): ConsumerConfig {
  return {
    groupId: group,
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.max(100, Math.floor(sessionTimeoutMs / 10)),
    maxBytesPerPartition: Math.max(1024 * 1024, maxMessageBytes + 64 * 1024),
    allowAutoTopicCreation: false,
  };
}

export function runConfig(prefetch: number): Pick<ConsumerRunConfig, 'autoCommit' | 'partitionsConsumedConcurrently'> {
  return { autoCommit: false, partitionsConsumedConcurrently: prefetch };
}

/** Producer `send` acknowledgement level: every in-sync replica. */
export const ACKS_ALL = -1;
