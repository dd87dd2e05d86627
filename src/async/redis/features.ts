/**
 * What the Redis Streams adapter can do (see `BrokerFeatures`).
 *
 * - persistence `broker`: as durable as the server's AOF setting (`appendfsync everysec` by default: a
 *   Redis crash loses nothing acknowledged, a power loss up to ~1 s).
 * - replay: a group's cursor moves with `XGROUP SETID`, over what retention kept.
 * - delay: nack delay through a per-group sorted set; delayed publish through a per-topic sorted set that
 *   subscribers move into the stream when due.
 * - no per-key order: several consumers of a group read in parallel and a nacked message comes back later.
 * - no dedup: XADD with `*` ids accepts any number of copies.
 */
import type { BrokerFeatures } from '../broker.js';

export function redisFeatures(maxMessageBytes: number): BrokerFeatures {
  return {
    persistence: 'broker',
    orderingByKey: false,
    replay: true,
    delay: true,
    dedup: false,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: true,
    maxMessageBytes,
  };
}
