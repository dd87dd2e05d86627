/**
 * The broker's publishing connection (clean session). With QoS 1/2 a publish resolves on the broker's
 * PUBACK/PUBCOMP; while disconnected mqtt.js keeps unacknowledged QoS 1/2 publishes and sends them again
 * after reconnecting, so a publish waits through an outage rather than failing.
 */
import type { MqttClient } from 'mqtt';
import { ClosedError } from '../../core/errors.js';
import { openClient } from './client.js';
import type { PublishProperties } from './headers.js';
import type { MqttBrokerOptions } from './options.js';

export class MqttPublisher {
  private readonly client: MqttClient;
  /** Publishes not yet acknowledged (a counter, not a set of promises: this is the per-message path). */
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private closed = false;

  constructor(
    url: string,
    options: MqttBrokerOptions,
    private readonly qos: 0 | 1 | 2,
    onError: (error: unknown) => void,
  ) {
    this.client = openClient(url, { ...options.clientOptions, clean: true }, onError);
  }

  /** PUBLISH; resolves with `result` on the broker's acknowledgement (at once for QoS 0). */
  publish<T = undefined>(topic: string, payload: Buffer, properties: PublishProperties, qos: 0 | 1 | 2 = this.qos, retain = false, result?: T): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('mqtt broker'));
    return new Promise<T>((resolve, reject) => {
      this.inFlight++;
      this.client.publish(topic, payload, { qos, properties, retain }, (error) => {
        if (--this.inFlight === 0) this.drained?.();
        if (error) reject(error);
        else resolve(result as T);
      });
    });
  }

  async close(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.closed = true;
    await this.client.endAsync();
  }
}
