/**
 * mqtt.js clients as the adapter uses them: MQTT 5, automatic reconnect, and `setNoDelay(true)` on every
 * (re)connection, because Nagle's algorithm holds small PUBLISH/PUBACK packets back (40 ms p99 measured).
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

export function openClient(url: string, options: IClientOptions, onError: (error: unknown) => void): MqttClient {
  // `log`: mqtt.js calls its logger several times per packet; the default `debug` logger costs ~4% of the
  // CPU per message even when disabled. Pass `clientOptions.log` to get mqtt.js's log back.
  const client = connect(url, { protocolVersion: 5, reconnectPeriod: 250, connectTimeout: 10_000, log: noLog, ...options });
  client.on('connect', () => {
    const socket = client.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined;
    socket?.setNoDelay?.(true);
  });
  client.on('error', onError);
  return client;
}

function noLog(): void {}

/** Resolves on the client's next CONNACK (at once if connected). */
export function connected(client: MqttClient): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise<void>((resolve) => client.once('connect', () => resolve()));
}
