/**
 * `courier/redis`: the Redis Streams broker adapter. Needs the optional peer dependency `ioredis` (5.x).
 */
export { redisBroker, RedisBroker } from './redis-broker.js';
export type { RedisBrokerOptions } from './options.js';
export { redisFeatures } from './features.js';
export { toFields, fromFields } from './headers.js';
export { idToSequence, sequenceToId } from './stream-id.js';
