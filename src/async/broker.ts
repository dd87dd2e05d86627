/**
 * The Broker interface: the small contract every message broker adapter implements (memory, embedded
 * SQLite, RabbitMQ, NATS JetStream, MQTT, Redis Streams, Kafka). Courier's consumer pipeline (decode →
 * validate → inbox → handler → retry → DLQ) sits above it, so that behaviour is the same on every broker
 * as far as the broker's features allow; the `BrokerFeatures` manifest says how far that is.
 *
 * ## Model
 * A **topic** is a named destination. Publishing appends a message to it. A **group** is a named set of
 * consumers on a topic:
 * - every group receives every message published after the group was created (fan-out between groups);
 * - within a group each message goes to one consumer at a time (competing consumers);
 * - a topic with one group is a work queue; a topic whose messages are retained after acknowledgement
 *   (`features.replay`) is a stream that a group can rewind with `seek`.
 *
 * ## Guarantees an adapter must give (checked by the conformance suite in `courier/testing`)
 * - **Durable acknowledgement.** `publish` resolves only once the message is as durable as the adapter's
 *   `features.persistence` says (committed to disk / confirmed by the broker). A resolved publish is never lost.
 * - **At-least-once delivery.** A delivered message that is not acked (consumer crash, connection loss,
 *   lease expiry, `nack`) is delivered again, to this or another consumer of the group, with `attempt` + 1.
 *   Consumers must therefore be idempotent (Courier's inbox does this for them).
 * - **Prefetch.** A subscription never has more than `prefetch` unsettled deliveries at once.
 * - **Order.** With `features.orderingByKey`, messages of one key are delivered to a group in publish order
 *   and never two at once: the next message of a key is held back until the previous one is settled.
 *   Without a key no order is promised.
 * - **Settling.** `ack` and `nack` settle a delivery exactly once; settling twice, or after the lease ran out or
 *   the subscription released the delivery, is a no-op, and so is `extend` on a settled delivery. (Dead-lettering
 *   is not a broker operation: the consumer pipeline publishes a record to the DLQ topic, then acks.)
 * - **Close.** `Subscription.close()` stops new deliveries, waits for in-flight handlers to finish (their
 *   settlements are applied), and returns unsettled deliveries to the group. `Broker.close()` closes every
 *   subscription first, then flushes pending publishes. Nothing acknowledged is lost by closing.
 */

/** What a publisher hands to the broker. Headers carry Courier's envelope (CloudEvents binary mode). */
export interface OutgoingMessage {
  /** Unique id; brokers with native dedup (`features.dedup`) drop a second publish with the same id. */
  readonly id: string;
  /** Ordering key (e.g. an order id). Messages of one key keep their order where `orderingByKey`. */
  readonly key?: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** Deliver no earlier than this many ms from now (requires `features.delay`). */
  readonly delayMs?: number | undefined;
}

export interface PublishReceipt {
  readonly id: string;
  /** Position in the topic where the broker has one (stream sequence / offset). */
  readonly sequence?: number | bigint | undefined;
}

/** A message as delivered to a consumer. */
export interface ReceivedMessage {
  readonly id: string;
  readonly topic: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** 1 on first delivery, +1 on every redelivery to this group. */
  readonly attempt: number;
  /** Position in the topic, where the broker has one. */
  readonly sequence: number | bigint | undefined;
  /** When the broker accepted the message (epoch ms), where known. */
  readonly publishedAt: number | undefined;
}

export interface NackOptions {
  /** Make the message available again after this many ms (default: immediately). */
  readonly delayMs?: number;
}

/** One delivery of a message to one consumer. Settle it exactly once. */
export interface Delivery {
  readonly message: ReceivedMessage;
  /** Done: the group will not see this message again. */
  ack(): Promise<void>;
  /** Not done: deliver again (after `delayMs`), counting an attempt. */
  nack(options?: NackOptions): Promise<void>;
  /**
   * Keep the lease: the consumer is still working, don't redeliver for another `ms` (default: the
   * subscription's lease). For long handlers.
   */
  extend(ms?: number): Promise<void>;
}

export type StartPosition =
  | { readonly from: 'latest' }
  | { readonly from: 'earliest' }
  | { readonly from: 'sequence'; readonly sequence: number | bigint }
  | { readonly from: 'time'; readonly time: number };

export interface SubscribeOptions {
  /** Consumer group name. Consumers sharing a group compete; distinct groups each get every message. */
  readonly group: string;
  /** Max unsettled deliveries to this subscriber at once. Default 16. */
  readonly prefetch?: number;
  /**
   * How long a delivery may stay unsettled before the broker assumes the consumer died and redelivers it,
   * in ms. Default 30 000. `Delivery.extend` renews it.
   */
  readonly leaseMs?: number;
  /** Where a new group starts (ignored when the group already exists). Default `latest`. */
  readonly start?: StartPosition;
}

/**
 * Called once per delivery. It settles the delivery (`ack`/`nack`), now or later; the broker counts the
 * delivery as being handled until the returned promise settles (graceful close waits for that). A handler
 * that has nothing left running when it returns may return nothing (no promise to wait for, no microtask).
 */
export type DeliveryHandler = (delivery: Delivery) => Promise<void> | void;

export interface Subscription {
  readonly topic: string;
  readonly group: string;
  /** Stop taking messages, let in-flight handlers finish, release what is unsettled. Idempotent. */
  close(): Promise<void>;
}

/** How far behind a group is on a topic. Fields an adapter cannot know are undefined. */
export interface Lag {
  /** Messages published but not yet delivered to the group. */
  readonly pending: number;
  /** Delivered but not yet settled. */
  readonly inFlight: number;
  /** Age in ms of the oldest message not yet acked by the group. */
  readonly oldestAgeMs?: number | undefined;
}

export type Persistence = 'none' | 'process' | 'power' | 'broker';

/**
 * What a broker can do. The conformance suite and the consumer pipeline read this manifest: a test for a
 * feature an adapter lacks is skipped with the reason, and the pipeline emulates what it safely can.
 */
export interface BrokerFeatures {
  /** Durability of an acknowledged publish: `none` (memory), `process` (survives SIGKILL), `power` (fsync), `broker` (whatever the remote broker is configured for). */
  readonly persistence: Persistence;
  /** Per-key order within a group (see the guarantees above). */
  readonly orderingByKey: boolean;
  /** `seek` and `start` positions other than `latest`. */
  readonly replay: boolean;
  /** `delayMs` on publish and on nack. */
  readonly delay: boolean;
  /** Drops a second publish of the same message id within a window. */
  readonly dedup: boolean;
  /** Several consumers of one group share the work. */
  readonly competingConsumers: boolean;
  /** Several groups each receive every message. */
  readonly fanOut: boolean;
  /** `Delivery.extend` renews the lease. */
  readonly leaseExtension: boolean;
  /** Largest body accepted, in bytes; larger publishes fail with `MessageTooLargeError`. */
  readonly maxMessageBytes: number;
}

export interface Broker {
  /** Adapter name, e.g. `memory`, `embedded`, `amqp`. */
  readonly name: string;
  readonly features: BrokerFeatures;
  /** Append a message to `topic`; resolves once durable per `features.persistence`. */
  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt>;
  /** Start consuming `topic` as a member of `options.group`. */
  subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription>;
  /** Move a group's position (replay). Requires `features.replay`. */
  seek?(topic: string, group: string, position: StartPosition): Promise<void>;
  /** How far behind `group` is on `topic`. */
  lag(topic: string, group: string): Promise<Lag>;
  /** Close subscriptions, flush publishes, release resources. Idempotent. */
  close(): Promise<void>;
}
