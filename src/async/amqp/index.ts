/**
 * `courier/amqp`: the RabbitMQ (AMQP 0-9-1) broker adapter. Needs the optional peer dependency `amqplib`.
 */
export { amqpBroker, AmqpBroker } from './amqp-broker.js';
export type { AmqpBrokerOptions } from './options.js';
export { amqpFeatures } from './features.js';
export { publishOptions, decodeDelivery, AMQP_PREFIX, KEY_HEADER, ATTEMPT_HEADER } from './headers.js';
export { delayBucket } from './delay-buckets.js';
