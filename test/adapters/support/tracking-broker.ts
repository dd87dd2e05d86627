/**
 * A pass-through `Broker` that remembers the topics and groups a conformance case used, and after closing
 * the real broker removes what they left on the shared test server (streams, queues, keys), so repeated
 * runs do not pile objects up.
 */
import type { Broker, BrokerFeatures, DeliveryHandler, Lag, OutgoingMessage, PublishReceipt, StartPosition, SubscribeOptions, Subscription } from '../../../src/async/broker.js';

export type Cleanup = (topics: ReadonlyMap<string, ReadonlySet<string>>) => Promise<void>;

export class TrackingBroker implements Broker {
  private readonly used = new Map<string, Set<string>>();
  readonly seek?: (topic: string, group: string, position: StartPosition) => Promise<void>;

  constructor(
    private readonly inner: Broker,
    private readonly cleanup: Cleanup,
  ) {
    if (inner.seek !== undefined) {
      this.seek = (topic, group, position) => {
        this.note(topic, group);
        return inner.seek!(topic, group, position);
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }

  get features(): BrokerFeatures {
    return this.inner.features;
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    this.note(topic);
    return this.inner.publish(topic, message);
  }

  subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    this.note(topic, options.group);
    return this.inner.subscribe(topic, options, handler);
  }

  lag(topic: string, group: string): Promise<Lag> {
    return this.inner.lag(topic, group);
  }

  async close(): Promise<void> {
    await this.inner.close();
    await this.cleanup(this.used).catch((error: unknown) => console.warn('cleanup failed', error));
  }

  private note(topic: string, group?: string): void {
    let groups = this.used.get(topic);
    if (groups === undefined) this.used.set(topic, (groups = new Set()));
    if (group !== undefined) groups.add(group);
  }
}
