/**
 * `Broker.lag` for MQTT. MQTT 5 has no way to ask a broker how many messages it holds for a shared
 * subscription (mosquitto's `$SYS` counters are broker-wide), so:
 * - pending is `NaN`: unknown, not zero (a dashboard should show "n/a", and `pending === 0` is never true);
 * - inFlight counts the deliveries unsettled in this process's subscriptions of the group;
 * - oldestAgeMs is unknown.
 */
import type { Lag } from '../broker.js';

export function mqttLag(localInFlight: number): Lag {
  return { pending: Number.NaN, inFlight: localInFlight, oldestAgeMs: undefined };
}
