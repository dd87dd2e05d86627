/**
 * `courier/nats`: the NATS JetStream broker adapter. Needs the optional peer dependencies
 * `@nats-io/transport-node` and `@nats-io/jetstream` (3.x).
 */
export { natsBroker, NatsBroker } from './nats-broker.js';
export type { NatsBrokerOptions, NatsRetentionLimits } from './options.js';
export { natsFeatures } from './features.js';
export { toNatsHeaders, fromNatsHeaders, MSG_ID_HEADER, KEY_HEADER } from './headers.js';
export { natsName } from './names.js';
