import { type Clock, systemClock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  checkName,
  checkOutgoing,
  resolveSubscribeOptions,
} from '../adapter-kit/options.js';
import type {
  Broker,
  BrokerFeatures,
  DeliveryHandler,
  Lag,
  OutgoingMessage,
  PublishReceipt,
  StartPosition,
  SubscribeOptions,
  Subscription,
} from '../broker.js';
import { BrokerUnavailableError, type Faults, seededRandom, shuffleInPlace } from './faults.js';
import { Group } from './group.js';
import { type Retention, TopicLog } from './topic-log.js';

/**
 * The in-memory broker: a real adapter with the full Broker contract (groups, competing consumers, fan-out,
 * per-key order, leases, nack delays, delayed delivery, replay, dedup, lag), passing the same conformance suite
 * as the durable brokers. Nothing survives the process (`persistence: 'none'`). Use it in tests, with a
 * `FakeClock` for time and `faults` to make it misbehave.
 */
export interface MemoryBrokerOptions {
  readonly clock?: Clock;
  readonly maxMessageBytes?: number;
  readonly retention?: Retention;
  /** A publish with an id seen within this window is dropped (its first receipt is returned). Default 120 000. */
  readonly dedupWindowMs?: number;
  readonly faults?: Faults;
}

interface Topic {
  readonly log: TopicLog;
  readonly groups: Map<string, Group>;
  publishedSinceTrim: number;
}

export function memoryBroker(options: MemoryBrokerOptions = {}): Broker {
  return new MemoryBroker(options);
}

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  readonly features: BrokerFeatures;
  private readonly clock: Clock;
  private readonly topics = new Map<string, Topic>();
  private readonly seen = new Map<string, { receipt: PublishReceipt; until: number }>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly random: () => number;
  private readonly createdAt: number;
  private closed = false;

  constructor(private readonly options: MemoryBrokerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.createdAt = this.clock.now();
    this.random = seededRandom(options.faults?.seed ?? 1);
    this.features = {
      persistence: 'none',
      orderingByKey: true,
      replay: true,
      delay: true,
      dedup: true,
      competingConsumers: true,
      fanOut: true,
      leaseExtension: true,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    };
  }

  async publish(topicName: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) throw new ClosedError('memory broker');
    checkOutgoing(topicName, message, this.features.maxMessageBytes);
    if (this.inOutage()) throw new BrokerUnavailableError();
    const now = this.clock.now();
    const dedupKey = `${topicName}\u0000${message.id}`;
    const earlier = this.seen.get(dedupKey);
    if (earlier && earlier.until > now) return earlier.receipt;

    const topic = this.topic(topicName);
    const faults = this.options.faults;
    const notBefore = now + (message.delayMs ?? 0) + (faults?.latencyMs ?? 0);
    const stored = {
      id: message.id,
      key: message.key,
      headers: { ...message.headers },
      body: Uint8Array.from(message.body),
      publishedAt: now,
      notBefore,
    };
    const first = topic.log.append(stored);
    if (faults?.duplicateRate && this.random() < faults.duplicateRate) topic.log.append(stored);
    const receipt: PublishReceipt = { id: message.id, sequence: first.sequence };
    this.seen.set(dedupKey, { receipt, until: now + (this.options.dedupWindowMs ?? 120_000) });
    if (this.seen.size > 100_000) this.forgetExpiredIds(now);
    for (const group of topic.groups.values()) group.schedulePump();
    if (++topic.publishedSinceTrim >= 1024) this.trim(topic);
    return receipt;
  }

  async subscribe(
    topicName: string,
    options: SubscribeOptions,
    handler: DeliveryHandler,
  ): Promise<Subscription> {
    if (this.closed) throw new ClosedError('memory broker');
    const resolved = resolveSubscribeOptions(topicName, options, handler);
    const topic = this.topic(topicName);
    let group = topic.groups.get(resolved.group);
    if (group === undefined) {
      const shuffle = this.options.faults?.reorder
        ? (e: unknown[]) => shuffleInPlace(e, this.random)
        : undefined;
      group = new Group(
        resolved.group,
        topic.log,
        this.clock,
        this.startSequence(topic, resolved.start),
        shuffle,
        () => this.outageEnd(),
      );
      topic.groups.set(resolved.group, group);
    }
    const dispatcher = group.join({
      prefetch: resolved.prefetch,
      leaseMs: resolved.leaseMs,
      handler,
      onError: () => undefined, // settlements are in-memory and cannot fail
    });
    const joined = group;
    let closing: Promise<void> | undefined;
    const subscription: Subscription = {
      topic: topicName,
      group: resolved.group,
      close: () =>
        (closing ??= (async () => {
          joined.leave(dispatcher);
          await dispatcher.close();
          this.subscriptions.delete(subscription);
          joined.schedulePump();
        })()),
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async seek(topicName: string, groupName: string, position: StartPosition): Promise<void> {
    checkName(topicName, 'topic');
    const topic = this.topic(topicName);
    const group = topic.groups.get(groupName);
    const sequence = this.startSequence(topic, position);
    if (group) group.seek(sequence);
    else {
      const shuffle = this.options.faults?.reorder
        ? (e: unknown[]) => shuffleInPlace(e, this.random)
        : undefined;
      topic.groups.set(
        groupName,
        new Group(groupName, topic.log, this.clock, sequence, shuffle, () => this.outageEnd()),
      );
    }
  }

  async lag(topicName: string, groupName: string): Promise<Lag> {
    const topic = this.topics.get(topicName);
    const group = topic?.groups.get(groupName);
    if (group === undefined) return { pending: 0, inFlight: 0, oldestAgeMs: undefined };
    return group.lag();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    for (const topic of this.topics.values()) for (const group of topic.groups.values()) group.close();
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      const retention = { maxMessages: 10_000, ...this.options.retention };
      topic = { log: new TopicLog(name, retention), groups: new Map(), publishedSinceTrim: 0 };
      this.topics.set(name, topic);
    }
    return topic;
  }

  private startSequence(topic: Topic, start: StartPosition): number {
    switch (start.from) {
      case 'latest':
        return topic.log.nextSequence;
      case 'earliest':
        return topic.log.firstSequence;
      case 'sequence':
        return Math.max(topic.log.firstSequence, Number(start.sequence));
      case 'time':
        return topic.log.sequenceAtTime(start.time);
    }
  }

  private trim(topic: Topic): void {
    topic.publishedSinceTrim = 0;
    let low = topic.log.nextSequence;
    for (const group of topic.groups.values()) low = Math.min(low, group.lowWater);
    topic.log.trim(low, this.clock.now());
  }

  private forgetExpiredIds(now: number): void {
    for (const [id, entry] of this.seen) if (entry.until <= now) this.seen.delete(id);
  }

  private inOutage(): boolean {
    return this.outageEnd() > 0;
  }

  /** The absolute time the current injected outage ends, or 0 outside outages. */
  private outageEnd(): number {
    const outages = this.options.faults?.outages;
    if (!outages?.length) return 0;
    const t = this.clock.now() - this.createdAt;
    const current = outages.find((o) => t >= o.fromMs && t < o.toMs);
    return current ? this.createdAt + current.toMs : 0;
  }
}
