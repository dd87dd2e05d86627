/** Options of the Kafka adapter (kafkajs 2.x) and their defaults. */
import type { Kafka, KafkaConfig } from 'kafkajs';
import type { Clock } from '../../core/clock.js';

export interface KafkaBrokerOptions {
  /** Bootstrap brokers, e.g. `['127.0.0.1:9092']`. Required unless `kafka` is given. */
  readonly brokers?: string[];
  /** Client id reported to Kafka. Default `courier`. */
  readonly clientId?: string;
  /** Extra kafkajs client configuration (SSL, SASL, retry). */
  readonly kafkaConfig?: Partial<KafkaConfig>;
  /** Use this kafkajs client instead of making one. */
  readonly kafka?: Kafka;
  /** Largest body accepted, in bytes. Default 1 MiB (Kafka's default `message.max.bytes` is about that). */
  readonly maxMessageBytes?: number;
  /** Consumer group session timeout, in ms: how long before Kafka gives a silent consumer's partitions away. Default 30 000. */
  readonly sessionTimeoutMs?: number;
  /** Time source for leases and nack delays. Default: the system clock. */
  readonly clock?: Clock;
  /** Errors of background work. Default: ignored. */
  readonly onError?: (error: unknown) => void;
}
