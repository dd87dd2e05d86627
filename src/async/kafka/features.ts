/**
 * What the Kafka adapter can do (see `BrokerFeatures`). Not verified against a Kafka broker: see
 * docs/adapters/kafka.md for what was and was not tested.
 *
 * - persistence `broker`: `acks: -1` (all in-sync replicas) with the idempotent producer.
 * - orderingByKey: messages of a key share a partition, and a partition is handled one message at a time
 *   (the next waits until the previous is settled), so per-key order holds within a group.
 * - replay: committed offsets can be moved (`seek`, through the admin client, while the group has no members).
 * - competing consumers through partition assignment (at most one consumer per partition), fan-out between
 *   groups.
 * - no delay on publish; a nack delay pauses the partition. No dedup (the idempotent producer only drops
 *   its own retries), no lease extension (Kafka's liveness is the consumer's heartbeat, not per message).
 */
import type { BrokerFeatures } from '../broker.js';

export function kafkaFeatures(maxMessageBytes: number): BrokerFeatures {
  return {
    persistence: 'broker',
    orderingByKey: true,
    replay: true,
    delay: false,
    dedup: false,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: false,
    maxMessageBytes,
  };
}
