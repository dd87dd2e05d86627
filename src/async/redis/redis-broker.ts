/**
 * Courier's `Broker` on Redis Streams (Redis ≥ 6.2; tested with 7.0).
 *
 * ```ts
 * import { redisBroker } from 'courier/redis';
 * const broker = redisBroker({ url: 'redis://127.0.0.1:6379' });
 * ```
 *
 * Mapping:
 * - topic → a stream (key `<keyPrefix><topic>`); a message → one entry (`headers.ts` has the field layout);
 *   `publish` is `XADD`, pipelined (`publish-batcher.ts`: publishes of one event-loop turn share a round trip) and resolves with the entry
 *   id as a bigint sequence (`stream-id.ts`).
 * - group → a consumer group, created with `MKSTREAM` at the subscription's start position; each
 *   subscription is one consumer (`subscription.ts`) with its own blocking connection.
 * - lease → the entry's idle time in the group's pending list; an entry idle longer than the lease is
 *   claimed by another consumer (or the same one) with its delivery count as the attempt.
 * - nack delay → a per-group retry set; delayed publish → a per-topic schedule moved into the stream by the
 *   topic's subscribers when due (so a delayed message appears only while some subscriber runs).
 * - seek → `XGROUP SETID`; lag → `lag.ts`; retention → `retention.ts` (+ optional `maxLen`).
 *
 * Connection loss: ioredis reconnects with backoff and replays commands that got no reply (so a publish in
 * flight during an outage resolves after it, possibly stored twice: at-least-once). Entries read by a reply
 * that was lost stay pending for this consumer and are claimed again after their lease.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
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
import { checkName, checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, positiveInt, resolveSubscribeOptions } from '../adapter-kit/options.js';
import { redisFeatures } from './features.js';
import { toFields } from './headers.js';
import { retryKey, scheduledHashKey, scheduleKey, streamKey } from './keys.js';
import { redisLag } from './lag.js';
import { PublishBatcher } from './publish-batcher.js';
import type { RedisBrokerOptions } from './options.js';
import { trimAcked } from './retention.js';
import { cursorFor } from './stream-id.js';
import { RedisSubscription } from './subscription.js';

export class RedisBroker implements Broker {
  readonly name = 'redis';
  readonly features: BrokerFeatures;
  private readonly main: Redis;
  private readonly ownsMain: boolean;
  private readonly clock: Clock;
  private readonly prefix: string;
  private readonly pollMs: number;
  private readonly trimArgs: string[];
  private readonly consumerPrefix: string;
  private readonly onError: (error: unknown) => void;
  private readonly publisher: PublishBatcher;
  private readonly subscriptions = new Set<RedisSubscription>();
  /** Streams whose `acked` retention this broker runs (those it subscribed to). */
  private readonly retained = new Set<string>();
  private readonly retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: RedisBrokerOptions = {}) {
    this.features = redisFeatures(positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'));
    this.clock = options.clock ?? systemClock;
    this.prefix = options.keyPrefix ?? '';
    this.pollMs = positiveInt(options.pollMs, 100, 'pollMs');
    this.trimArgs = options.maxLen === undefined ? [] : ['MAXLEN', '~', String(positiveInt(options.maxLen, 0, 'maxLen'))];
    this.consumerPrefix = options.consumerPrefix ?? `${hostname()}:${process.pid}`;
    this.onError = options.onError ?? (() => undefined);
    if (options.redis !== undefined) {
      this.main = options.redis;
      this.ownsMain = false;
    } else {
      this.main = new Redis(options.url ?? 'redis://127.0.0.1:6379', {
        // Wait through outages instead of failing a publish after a fixed number of reconnect attempts.
        maxRetriesPerRequest: null,
        ...options.redisOptions,
      });
      this.ownsMain = true;
    }
    this.main.on('error', this.onError);
    this.publisher = new PublishBatcher(this.main, this.trimArgs);
    if ((options.retention ?? 'acked') === 'acked') {
      const every = positiveInt(options.retentionIntervalMs, 5000, 'retentionIntervalMs');
      this.retentionTimer = setInterval(() => void this.runRetention(), every);
      this.retentionTimer.unref();
    }
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(new ClosedError('redis broker'));
    let stream: string;
    let fields: Array<string | Buffer>;
    try {
      checkOutgoing(topic, message, this.features.maxMessageBytes);
      stream = streamKey(this.prefix, topic);
      fields = toFields(message.id, message.key, message.headers ?? {}, message.body);
    } catch (error) {
      return Promise.reject(error);
    }
    if ((message.delayMs ?? 0) > 0) return this.publishLater(stream, message, fields);
    return this.publisher.add(stream, fields, message.body.byteLength + 64 * fields.length, message.id);
  }

  private async publishLater(stream: string, message: OutgoingMessage, fields: Array<string | Buffer>): Promise<PublishReceipt> {
    const member = `${message.id}:${randomBytes(6).toString('hex')}`;
    await this.main
      .multi()
      .hset(scheduledHashKey(stream, member), ...(fields as [string, string]))
      .zadd(scheduleKey(stream), this.clock.now() + (message.delayMs ?? 0), member)
      .exec()
      .then(failOnError);
    return { id: message.id };
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('redis broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    const stream = streamKey(this.prefix, topic);
    await this.createGroup(stream, resolved.group, resolved.start);
    const blocking = this.main.duplicate();
    blocking.on('error', this.onError);
    const subscription = new RedisSubscription(
      {
        topic,
        group: resolved.group,
        consumer: `${this.consumerPrefix}:${randomBytes(4).toString('hex')}`,
        stream,
        retry: retryKey(stream, resolved.group),
        schedule: scheduleKey(stream),
        main: this.main,
        blocking,
        clock: this.clock,
        prefetch: resolved.prefetch,
        leaseMs: resolved.leaseMs,
        pollMs: this.pollMs,
        trimArgs: this.trimArgs,
        onError: this.onError,
        onClosed: (s) => this.subscriptions.delete(s),
      },
      handler,
    );
    this.subscriptions.add(subscription);
    this.retained.add(stream);
    subscription.start();
    return subscription;
  }

  async seek(topic: string, group: string, position: StartPosition): Promise<void> {
    if (this.closed) throw new ClosedError('redis broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    const stream = streamKey(this.prefix, topic);
    const cursor = cursorFor(position);
    if (!(await this.createGroup(stream, group, position))) await this.main.call('XGROUP', 'SETID', stream, group, cursor);
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('redis broker');
    const stream = streamKey(this.prefix, topic);
    return redisLag(this.main, stream, retryKey(stream, group), group, this.clock.now());
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.publisher.drain();
    if (this.ownsMain) await this.main.quit().catch(() => this.main.disconnect());
  }

  /** Create the group at `start`; false if it already existed. */
  private async createGroup(stream: string, group: string, start: StartPosition): Promise<boolean> {
    try {
      await this.main.call('XGROUP', 'CREATE', stream, group, cursorFor(start), 'MKSTREAM');
      return true;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return false;
      throw error;
    }
  }

  private async runRetention(): Promise<void> {
    for (const stream of this.retained) {
      try {
        await trimAcked(this.main, stream);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

/** A broker on Redis Streams. See `RedisBrokerOptions`. */
export function redisBroker(options: RedisBrokerOptions = {}): RedisBroker {
  return new RedisBroker(options);
}

function failOnError(results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('redis transaction aborted');
  for (const [error] of results) if (error !== null) throw error;
}
