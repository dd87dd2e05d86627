/**
 * One consumer of a group: a persistent MQTT 5 session (its own connection) holding the group's shared
 * subscriptions, with Receive Maximum = prefetch, so the broker never has more than `prefetch`
 * unacknowledged messages out to it.
 *
 * The PUBACK is the ack. mqtt.js acknowledges a QoS 1 message as soon as its handler hook returns and
 * processes packets one at a time, so the adapter takes the message in `handleMessage`, declines mqtt.js's
 * PUBACK (by passing an error to its callback, which mqtt.js documents as the way to skip the ack) and sends
 * the PUBACK itself when the delivery is settled. This relies on mqtt.js's internal `_sendPacket`, checked at
 * start.
 *
 * Settlement:
 * - ack: PUBACK, the PUBACKs of one event-loop turn sent together, in one socket write (`TurnBatch`);
 * - nack (and lease expiry): MQTT never redelivers within a session, so a copy counting the next attempt is
 *   published (QoS 1, confirmed) to the group's retry topic, then the original is PUBACKed. With a delay the
 *   original stays unacknowledged (so a crash still gets it redelivered) until the delay has passed;
 * - extend: nothing on the wire (the lease is the adapter's);
 * - release (close): nothing. The session keeps the message unacknowledged and MQTT redelivers it (DUP) when
 *   a consumer resumes the session: the next subscription of the same group in this process, or this process
 *   after a restart (`instanceId`).
 * After a connection loss the deliveries of the old connection are dropped: the broker redelivers them on
 * the resumed session, marked DUP (attempt + 1).
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import { TurnBatch } from '../adapter-kit/turn-batch.js';
import { connected, openClient } from './client.js';
import { fromPublishProperties, withAttempt } from './headers.js';
import type { MqttBrokerOptions } from './options.js';
import type { MqttPublisher } from './publisher.js';
import { sharedFilter, type ClientIdLease } from './topics.js';

export interface MqttSubscriptionContext {
  readonly topic: string;
  readonly group: string;
  readonly retryTopic: string;
  readonly url: string;
  readonly options: MqttBrokerOptions;
  readonly clientId: ClientIdLease;
  readonly sessionExpirySeconds: number;
  readonly publisher: MqttPublisher;
  readonly clock: Clock;
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly onError: (error: unknown) => void;
  readonly onClosed: (subscription: MqttSubscription) => void;
}

interface Raw {
  readonly packet: IPublishPacket;
  readonly generation: number;
  readonly attempt: number;
}

type SendPacket = (packet: object, cb?: (error?: Error) => void, cbStorePut?: unknown, noStore?: boolean) => void;

/** Passed to mqtt.js's handleMessage callback so that it does not send the PUBACK itself. */
const DEFER_ACK = new Error('courier: PUBACK deferred until the delivery is settled');

export class MqttSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<Raw>;
  /** PUBACKs of one turn, written with the socket corked: one write for the batch. */
  private readonly acks = new TurnBatch<Raw>(
    (raw) => this.puback(raw),
    (sendAll) => {
      const stream = this.client?.stream as { cork?: () => void; uncork?: () => void } | undefined;
      stream?.cork?.();
      try {
        sendAll();
      } finally {
        stream?.uncork?.();
      }
    },
  );
  private readonly delayed = new Map<Raw, TimerHandle>();
  private client: MqttClient | undefined;
  private generation = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: MqttSubscriptionContext,
    handler: DeliveryHandler,
  ) {
    this.dispatcher = new Dispatcher<Raw>({
      prefetch: ctx.prefetch,
      leaseMs: ctx.leaseMs,
      clock: ctx.clock,
      handler,
      settlement: this.settlement,
      onError: ctx.onError,
    });
  }

  get topic(): string {
    return this.ctx.topic;
  }

  get group(): string {
    return this.ctx.group;
  }

  get inFlight(): number {
    return this.dispatcher.unsettled;
  }

  /** Connect (resuming the session if the broker has it) and subscribe. */
  async start(): Promise<void> {
    const client = openClient(
      this.ctx.url,
      {
        ...this.ctx.options.clientOptions,
        clientId: this.ctx.clientId.clientId,
        clean: false,
        properties: { sessionExpiryInterval: this.ctx.sessionExpirySeconds, receiveMaximum: this.ctx.prefetch },
      },
      this.ctx.onError,
    );
    if (typeof (client as unknown as { _sendPacket?: unknown })._sendPacket !== 'function') {
      client.end(true);
      throw new Error('mqtt broker: this mqtt.js version has no _sendPacket; deferred PUBACKs need mqtt 5.x');
    }
    this.client = client;
    client.handleMessage = (packet, callback) => {
      this.receive(packet);
      callback(DEFER_ACK);
    };
    client.on('connect', () => this.generation++);
    client.on('close', () => {
      const lost = this.generation;
      this.dispatcher.drop((raw) => raw.generation === lost);
    });
    await connected(client);
    const filters = [sharedFilter(this.ctx.group, this.ctx.topic), sharedFilter(this.ctx.group, this.ctx.retryTopic)];
    // Retain Handling 2: never take a topic's retained message at subscribe time. A group is a queue: the
    // retained copy is an old message it may already have handled (mosquitto 2 sends retained messages to
    // shared subscriptions too).
    await client.subscribeAsync(filters, { qos: 1, rh: 2 });
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await this.dispatcher.close();
    this.acks.flush();
    for (const timer of this.delayed.values()) this.ctx.clock.clearTimeout(timer);
    this.delayed.clear(); // left unacknowledged: the session redelivers them
    // Disconnect without unsubscribing: the session (and its share of the group) lives on for the next
    // consumer that resumes it.
    await this.client?.endAsync(false).catch(this.ctx.onError);
    this.ctx.clientId.release();
    this.ctx.onClosed(this);
  }

  private receive(packet: IPublishPacket): void {
    // A QoS 0 message (the broker publishes at QoS 0) is handled like any other, but has no PUBACK: at most once.
    const decoded = fromPublishProperties(packet.properties);
    const attempt = decoded.attempt + (packet.dup ? 1 : 0);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const message: ReceivedMessage = {
      id: decoded.id ?? `mqtt-${this.ctx.clientId.clientId}-${packet.messageId}-${Date.now()}`,
      topic: this.ctx.topic,
      key: decoded.key,
      headers: decoded.headers,
      body: payload,
      attempt,
      sequence: undefined,
      publishedAt: undefined,
    };
    this.dispatcher.dispatch(message, { packet, generation: this.generation, attempt });
  }

  private readonly settlement: Settlement<Raw> = {
    ack: (raw) => this.acks.add(raw),
    nack: async (raw, delayMs) => {
      if (delayMs === 0) return this.redeliver(raw);
      // Hold the original (unacknowledged) until the delay has passed, then hand a copy to the group.
      const timer = this.ctx.clock.setTimeout(() => {
        this.delayed.delete(raw);
        this.redeliver(raw).catch(this.ctx.onError);
      }, delayMs);
      this.delayed.set(raw, timer);
    },
    extend: async () => undefined,
    expire: (raw) => this.redeliver(raw),
    release: async () => undefined,
  };

  /** A copy counting the next attempt to the group's retry topic, confirmed; then PUBACK the original. */
  private async redeliver(raw: Raw): Promise<void> {
    if (raw.generation !== this.generation) return; // the broker redelivers it on the resumed session anyway
    const payload = typeof raw.packet.payload === 'string' ? Buffer.from(raw.packet.payload) : raw.packet.payload;
    await this.ctx.publisher.publish(this.ctx.retryTopic, payload, withAttempt(raw.packet.properties, raw.attempt + 1), 1);
    this.puback(raw);
  }

  private puback(raw: Raw): void {
    const client = this.client;
    if (raw.packet.qos === 0) return; // nothing to acknowledge
    if (client === undefined || !client.connected || raw.generation !== this.generation) return; // redelivered on resume
    const send = (client as unknown as { _sendPacket: SendPacket })._sendPacket.bind(client);
    send({ cmd: 'puback', messageId: raw.packet.messageId, reasonCode: 0 }, undefined, undefined, true);
  }
}
