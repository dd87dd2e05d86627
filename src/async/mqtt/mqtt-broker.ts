/**
 * Courier's `Broker` on MQTT 5 (mqtt.js 5; tested with mosquitto 2.0).
 *
 * ```ts
 * import { mqttBroker } from 'courier/mqtt';
 * const broker = mqttBroker({ url: 'mqtt://127.0.0.1:1883', instanceId: process.env.POD_NAME });
 * ```
 *
 * - topic → MQTT topic; publish → PUBLISH at QoS 1 (default; 0 or 2 by option) that resolves on the
 *   broker's acknowledgement; headers → user properties (`headers.ts`).
 * - group → shared subscription `$share/<group>/<topic>`; each subscription is a persistent session
 *   (`subscription.ts`) with Receive Maximum = prefetch. A group exists while some session holds its shared
 *   subscription: messages published before that are not delivered to it.
 * - What MQTT lacks (see `features.ts`): redelivery within a session (nack = a copy to the group's retry
 *   topic), delays, replay, dedup, a lag API (`lag.ts`).
 *
 * A caveat of shared subscriptions with persistent sessions (mosquitto 2): the broker keeps routing a share
 * of the group's messages to a session that is offline, where they wait until a consumer resumes that
 * session (same client id: same `instanceId`, topic, group and slot) or the session expires, and then they
 * are discarded. Give every process a stable `instanceId` and keep `sessionExpirySeconds` above any restart.
 */
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import type { Broker, BrokerFeatures, DeliveryHandler, Lag, OutgoingMessage, PublishReceipt, SubscribeOptions, Subscription } from '../broker.js';
import { checkName, checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, positiveInt, resolveSubscribeOptions } from '../adapter-kit/options.js';
import { mqttFeatures } from './features.js';
import { toPublishProperties } from './headers.js';
import { mqttLag } from './lag.js';
import type { MqttBrokerOptions } from './options.js';
import { MqttPublisher } from './publisher.js';
import { MqttSubscription } from './subscription.js';
import { checkGroup, checkTopic, leaseClientId, retryTopic } from './topics.js';

export class MqttBroker implements Broker {
  readonly name = 'mqtt';
  readonly features: BrokerFeatures;
  private readonly url: string;
  private readonly qos: 0 | 1 | 2;
  private readonly clock: Clock;
  private readonly onError: (error: unknown) => void;
  private readonly publisher: MqttPublisher;
  private readonly subscriptions = new Set<MqttSubscription>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: MqttBrokerOptions = {}) {
    this.qos = options.qos ?? 1;
    if (this.qos !== 0 && this.qos !== 1 && this.qos !== 2) throw new TypeError(`mqttBroker: qos must be 0, 1 or 2`);
    this.features = mqttFeatures(positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'), this.qos);
    this.url = options.url ?? 'mqtt://127.0.0.1:1883';
    this.clock = options.clock ?? systemClock;
    this.onError = options.onError ?? (() => undefined);
    this.publisher = new MqttPublisher(this.url, options, this.qos, this.onError);
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(new ClosedError('mqtt broker'));
    let payload: Buffer;
    let retained: boolean;
    try {
      checkOutgoing(topic, message, this.features.maxMessageBytes);
      checkTopic(topic);
      if ((message.delayMs ?? 0) > 0) throw new TypeError('mqtt broker: delayed publish is not supported (features.delay is false)');
      payload = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
      const retain = this.options.retain;
      retained = typeof retain === 'function' ? retain(topic) : retain === true;
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const properties = toPublishProperties(message.id, message.key, message.headers ?? {});
    return this.publisher.publish<PublishReceipt>(topic, payload, properties, this.qos, retained, { id: message.id });
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('mqtt broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    checkTopic(topic);
    checkGroup(resolved.group);
    if (resolved.start.from !== 'latest') throw new TypeError(`mqtt broker: start position '${resolved.start.from}' needs replay, which MQTT does not have`);
    const clientId = leaseClientId(this.options.instanceId ?? hostname(), topic, resolved.group);
    const subscription = new MqttSubscription(
      {
        topic,
        group: resolved.group,
        retryTopic: retryTopic(this.options.retryRoot ?? 'courier-retry', resolved.group, topic),
        url: this.url,
        options: this.options,
        clientId,
        sessionExpirySeconds: positiveInt(this.options.sessionExpirySeconds, 86_400, 'sessionExpirySeconds'),
        publisher: this.publisher,
        clock: this.clock,
        prefetch: resolved.prefetch,
        leaseMs: resolved.leaseMs,
        onError: this.onError,
        onClosed: (s) => this.subscriptions.delete(s),
      },
      handler,
    );
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close();
      throw error;
    }
    this.subscriptions.add(subscription);
    return subscription;
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('mqtt broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    let inFlight = 0;
    for (const s of this.subscriptions) if (s.topic === topic && s.group === group) inFlight += s.inFlight;
    return mqttLag(inFlight);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.publisher.close();
  }
}

/** A broker on MQTT 5. See `MqttBrokerOptions`. */
export function mqttBroker(options: MqttBrokerOptions = {}): MqttBroker {
  return new MqttBroker(options);
}
