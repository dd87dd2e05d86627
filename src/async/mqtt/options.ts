/** Options of the MQTT 5 adapter and their defaults. */
import type { IClientOptions } from 'mqtt';
import type { Clock } from '../../core/clock.js';

export interface MqttBrokerOptions {
  /** Broker URL. Default `mqtt://127.0.0.1:1883`. */
  readonly url?: string;
  /** Extra mqtt.js client options (credentials, TLS, keep-alive) for every connection the broker makes. */
  readonly clientOptions?: IClientOptions;
  /** QoS of publishes: 1 (default), 2, or 0 (no acknowledgement, so persistence `none`). */
  readonly qos?: 0 | 1 | 2;
  /**
   * This process's stable identity, part of every consumer's client id. A consumer's session (and the
   * messages MQTT has routed to it) survives a crash only if the restarted process connects with the same
   * client id, so set this to something that survives restarts and is unique per process (a pod or host name
   * plus an index). Default: the host name.
   */
  readonly instanceId?: string;
  /**
   * How long a consumer's session outlives its connection, in seconds (MQTT 5 session expiry). Messages the
   * broker queued for a session that expires are discarded, so keep it longer than any restart. Default 86 400.
   */
  readonly sessionExpirySeconds?: number;
  /**
   * Publish with the MQTT retain flag, for all topics (`true`) or those the function picks: the broker keeps
   * the topic's last message and hands it to every new plain subscriber (a device's or a dashboard's "current
   * state"). Courier's groups subscribe with Retain Handling 2 (no retained message at subscribe time), so
   * retaining never hands a group an old message again. Nacked copies are never retained. Default false.
   */
  readonly retain?: boolean | ((topic: string) => boolean);
  /** Topic level under which nacked copies travel to a group: `<retryRoot>/<group>/<topic>`. Default `courier-retry`. */
  readonly retryRoot?: string;
  /** Largest body accepted, in bytes. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** Time source for leases and nack delays. Default: the system clock. */
  readonly clock?: Clock;
  /** Errors of background work (connection errors, failed settlements). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}
