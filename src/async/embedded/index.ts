/**
 * `courier/embedded`: the embedded (SQLite) broker, Courier's default when no broker is configured.
 */
export { embeddedBroker, embeddedFeatures, EmbeddedBroker } from './embedded-broker.js';
export type { EmbeddedBrokerOptions, EmbeddedTuning } from './options.js';
export type { RetentionPolicy, RetentionOption } from './retention.js';
export type { EmbeddedBrokerStats } from './stats.js';
export { BrokerDirectoryBusyError, type Durability } from './database.js';
