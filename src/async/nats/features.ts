/**
 * What the NATS JetStream adapter can do (see `BrokerFeatures`).
 *
 * - persistence `broker`: a file-stored stream acknowledges a publish once written; it fsyncs before the
 *   ack only with the server's `sync_interval: always` (see scripts/brokers.sh and docs/adapters/nats.md).
 * - replay: a group is a durable consumer; `seek` recreates it at the new start.
 * - dedup: `Nats-Msg-Id` = message id, within the stream's duplicate window.
 * - delay: `false`, because JetStream 2.9 cannot delay a publish. A nack delay works (`nak(delay)`).
 * - leaseExtension: `working()` renews the ack wait; longer extensions repeat it.
 * - no per-key order (several pullers share a consumer; a nak'd message comes back later).
 */
import type { BrokerFeatures } from '../broker.js';

export function natsFeatures(maxMessageBytes: number): BrokerFeatures {
  return {
    persistence: 'broker',
    orderingByKey: false,
    replay: true,
    delay: false,
    dedup: true,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: true,
    maxMessageBytes,
  };
}
