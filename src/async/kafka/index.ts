/**
 * `courier/kafka`: a thin Kafka adapter over kafkajs 2.x (optional peer dependency `kafkajs`). Not run
 * against a Kafka broker; see docs/adapters/kafka.md.
 */
export { kafkaBroker, KafkaBroker } from './kafka-broker.js';
export type { KafkaBrokerOptions } from './options.js';
export { kafkaFeatures } from './features.js';
export { toKafkaMessage, fromKafkaMessage, KAFKA_PREFIX, ID_HEADER } from './headers.js';
export { clientConfig, producerConfig, consumerConfig, runConfig } from './config.js';
export { pendingFrom } from './lag.js';
export { AttemptCounter } from './attempts.js';
