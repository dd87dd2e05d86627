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
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    url: string,
    options: MqttBrokerOptions,
    private readonly qos: 0 | 1 | 2,
    onError: (error: unknown) => void,
  ) {
    this.client = openClient(url, { ...options.clientOptions, clean: true }, onError);
  }

  publish(topic: string, payload: Buffer, properties: PublishProperties, qos: 0 | 1 | 2 = this.qos, retain = false): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('mqtt broker'));
    const work = this.client.publishAsync(topic, payload, { qos, properties, retain }).then(() => undefined);
    this.inFlight.add(work);
    void work.catch(() => undefined).finally(() => this.inFlight.delete(work));
    return work;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.closed = true;
    await this.client.endAsync();
  }
}
