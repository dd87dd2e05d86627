/**
 * What the MQTT 5 adapter can do (see `BrokerFeatures`), and what MQTT cannot:
 *
 * - persistence `broker` with QoS 1/2 (mosquitto keeps queued messages in memory and saves them every
 *   `autosave_interval` and at shutdown: a mosquitto crash loses what arrived since the last save); `none`
 *   with QoS 0.
 * - competing consumers through shared subscriptions (`$share/<group>/<topic>`), fan-out between groups.
 * - leaseExtension: the lease is the adapter's; MQTT has none.
 * - no delay: MQTT cannot delay a message. A nack delay is waited out in the consumer, holding the message
 *   (unacknowledged, so a crash still gets it redelivered), then a copy is sent to the group.
 * - no replay (MQTT keeps no log), no per-key order, no dedup.
 */
import type { BrokerFeatures } from '../broker.js';

export function mqttFeatures(maxMessageBytes: number, qos: 0 | 1 | 2): BrokerFeatures {
  return {
    persistence: qos === 0 ? 'none' : 'broker',
    orderingByKey: false,
    replay: false,
    delay: false,
    dedup: false,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: true,
    maxMessageBytes,
  };
}
