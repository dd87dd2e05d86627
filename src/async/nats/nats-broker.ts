/**
 * Courier's `Broker` on NATS JetStream (@nats-io/transport-node + @nats-io/jetstream 3.x; tested with
 * nats-server 2.9).
 *
 * ```ts
 * import { natsBroker } from 'courier/nats';
 * const broker = natsBroker({ servers: 'nats://127.0.0.1:4222' });
 * ```
 *
 * - topic → a file-stored stream (`names.ts`) whose one subject is the topic, created on first use with the
 *   configured retention; group → a durable pull consumer (explicit ack, ack wait = lease, unlimited
 *   deliveries: Courier's pipeline decides when to dead-letter), created at the subscription's start.
 * - publish → a NATS publish with `Nats-Msg-Id` = message id and a reply inbox (`pub-acks.ts`); resolves on the
 *   stream's PubAck with its sequence. A publish that times out or fails on a lost connection is sent again
 *   with the same id, which the stream's dedup window turns into at most one stored copy.
 * - subscribe → `subscription.ts`; seek → delete and recreate the group's consumer; lag → `lag.ts`.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import type { Broker, BrokerFeatures, DeliveryHandler, Lag, OutgoingMessage, PublishReceipt, StartPosition, SubscribeOptions, Subscription } from '../broker.js';
import { checkName, checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, positiveInt, resolveSubscribeOptions } from '../adapter-kit/options.js';
import { natsFeatures } from './features.js';
import { toNatsHeaders } from './headers.js';
import { isNotFound, natsLag } from './lag.js';
import { checkSubject, natsName } from './names.js';
import type { NatsBrokerOptions, NatsRetentionLimits } from './options.js';
import { PubAcks } from './pub-acks.js';
import { NatsSubscription } from './subscription.js';

interface Client {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Courier's own PubAck handling for publishes (`pub-acks.ts`). */
  readonly acks: PubAcks;
}

const MAX_ACK_PENDING = 100_000;

export class NatsBroker implements Broker {
  readonly name = 'nats';
  readonly features: BrokerFeatures;
  private readonly clock: Clock;
  private readonly prefix: string;
  private readonly pullExpiresMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly streams = new Map<string, Promise<string>>();
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private client: Promise<Client> | undefined;
  /** The connected client, once `client` resolved (the publish fast path reads it without awaiting). */
  private ready: Client | undefined;
  /** Topics whose stream `ensureStream` has confirmed (a seek or delete elsewhere does not remove it). */
  private readonly readyStreams = new Set<string>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: NatsBrokerOptions = {}) {
    this.features = natsFeatures(positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'));
    this.clock = options.clock ?? systemClock;
    this.prefix = options.namePrefix ?? 'courier_';
    this.pullExpiresMs = positiveInt(options.pullExpiresMs, 1000, 'pullExpiresMs');
    if (this.pullExpiresMs < 1000) throw new RangeError('natsBroker: pullExpiresMs must be at least 1000 (the client refuses shorter pulls)');
    this.onError = options.onError ?? (() => undefined);
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(new ClosedError('nats broker'));
    const work = this.doPublish(topic, message);
    this.inFlight.add(work);
    void work.catch(() => undefined).finally(() => this.inFlight.delete(work));
    return work;
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('nats broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    checkSubject(topic);
    const { js, jsm } = await this.connection();
    const stream = await this.ensureStream(topic);
    const durable = natsName(this.prefix, resolved.group);
    const ackWaitMs = await this.ensureConsumer(jsm, stream, durable, resolved.start, resolved.leaseMs);
    const consumer = await js.consumers.get(stream, durable);
    const subscription = new NatsSubscription(
      {
        topic,
        group: resolved.group,
        stream,
        consumer: durable,
        js,
        clock: this.clock,
        prefetch: resolved.prefetch,
        leaseMs: ackWaitMs,
        pullExpiresMs: this.pullExpiresMs,
        onError: this.onError,
        onClosed: (s) => this.subscriptions.delete(s),
      },
      handler,
    );
    this.subscriptions.add(subscription);
    subscription.start(consumer);
    return subscription;
  }

  async seek(topic: string, group: string, position: StartPosition): Promise<void> {
    if (this.closed) throw new ClosedError('nats broker');
    checkName(group, 'group');
    checkSubject(topic);
    const { jsm } = await this.connection();
    const stream = await this.ensureStream(topic);
    const durable = natsName(this.prefix, group);
    let ackWaitMs: number | undefined;
    try {
      const info = await jsm.consumers.info(stream, durable);
      ackWaitMs = Math.round(info.config.ack_wait! / 1e6);
      await jsm.consumers.delete(stream, durable);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await this.ensureConsumer(jsm, stream, durable, position, ackWaitMs ?? 30_000);
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('nats broker');
    checkName(group, 'group');
    checkSubject(topic);
    const { jsm } = await this.connection();
    return natsLag(jsm, natsName(this.prefix, topic), natsName(this.prefix, group), this.clock.now());
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await Promise.allSettled([...this.inFlight]);
    if (this.client !== undefined) {
      const client = await this.client.catch(() => undefined);
      client?.acks.close(new ClosedError('nats broker'));
      if (this.options.connection === undefined) await client?.nc.close();
    }
  }

  private async doPublish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    checkOutgoing(topic, message, this.features.maxMessageBytes);
    checkSubject(topic);
    if ((message.delayMs ?? 0) > 0) throw new TypeError('nats broker: delayed publish is not supported (features.delay is false)');
    // Once connected and the stream is known, go straight to the publish in this turn: every await before
    // it spread a burst of publishes over more microtask turns, and the client writes to the socket once
    // per turn that has output (measured: ~25% of the CPU per message went to socket writes).
    let acks = this.ready?.acks;
    if (acks === undefined || !this.readyStreams.has(topic)) {
      acks = (await this.connection()).acks;
      await this.ensureStream(topic);
      this.readyStreams.add(topic);
    }
    const headers = toNatsHeaders(message);
    for (let failures = 0; ; failures++) {
      try {
        const ack = await acks.publish(topic, message.body, headers);
        return { id: message.id, sequence: ack.seq };
      } catch (error) {
        if (this.closed || !isTransient(error)) throw error;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** Math.min(failures, 6))));
      }
    }
  }

  private connection(): Promise<Client> {
    this.client ??= (async () => {
      const nc =
        this.options.connection ??
        (await connect({
          servers: this.options.servers ?? 'nats://127.0.0.1:4222',
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          // Otherwise the client builds two Error objects (stack traces) per request, every publish
          // included, "in case" it times out: measured as ~20% of the adapter's CPU per message.
          noAsyncTraces: true,
        }));
      const client = { nc, js: jetstream(nc), jsm: await jetstreamManager(nc), acks: new PubAcks(nc) };
      this.ready = client;
      return client;
    })();
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }

  /** The topic's stream name, creating the stream if it does not exist. */
  private ensureStream(topic: string): Promise<string> {
    let done = this.streams.get(topic);
    if (done === undefined) {
      done = this.createStream(topic);
      this.streams.set(topic, done);
      done.catch(() => this.streams.delete(topic));
    }
    return done;
  }

  private async createStream(topic: string): Promise<string> {
    const { jsm } = await this.connection();
    const name = natsName(this.prefix, topic);
    try {
      await jsm.streams.info(name);
      return name;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const retention = this.options.retention ?? 'acked';
    const config: Partial<StreamConfig> & { name: string } = {
      name,
      subjects: [topic],
      storage: 'file',
      duplicate_window: nanos(this.duplicateWindowMs(retention)),
      ...(retention === 'acked'
        ? { retention: 'interest' }
        : {
            retention: 'limits',
            ...(retention.maxAgeMs === undefined ? {} : { max_age: nanos(retention.maxAgeMs) }),
            ...(retention.maxMessages === undefined ? {} : { max_msgs: retention.maxMessages }),
            ...(retention.maxBytes === undefined ? {} : { max_bytes: retention.maxBytes }),
          }),
    };
    try {
      await jsm.streams.add(config);
    } catch (error) {
      // Another process created it first.
      if (!(error instanceof Error && /already in use|already exists/i.test(error.message))) throw error;
    }
    return name;
  }

  /** The dedup window, no longer than the stream's max age (the server refuses that). */
  private duplicateWindowMs(retention: 'acked' | NatsRetentionLimits): number {
    const window = positiveInt(this.options.duplicateWindowMs, 120_000, 'duplicateWindowMs');
    return retention !== 'acked' && retention.maxAgeMs !== undefined ? Math.min(window, retention.maxAgeMs) : window;
  }

  /** Create the group's durable consumer at `start` unless it exists; returns its ack wait in ms. */
  private async ensureConsumer(jsm: JetStreamManager, stream: string, durable: string, start: StartPosition, leaseMs: number): Promise<number> {
    try {
      const info = await jsm.consumers.info(stream, durable);
      return Math.round(info.config.ack_wait! / 1e6);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: 'explicit',
        ack_wait: nanos(leaseMs),
        max_deliver: -1,
        max_ack_pending: MAX_ACK_PENDING,
        ...deliverPolicy(start),
      });
    } catch (error) {
      if (!(error instanceof Error && /already in use|already exists/i.test(error.message))) throw error;
      const info = await jsm.consumers.info(stream, durable);
      return Math.round(info.config.ack_wait! / 1e6);
    }
    return leaseMs;
  }
}

/** A broker on NATS JetStream. See `NatsBrokerOptions`. */
export function natsBroker(options: NatsBrokerOptions = {}): NatsBroker {
  return new NatsBroker(options);
}

function deliverPolicy(start: StartPosition): Record<string, unknown> {
  switch (start.from) {
    case 'latest':
      return { deliver_policy: 'new' };
    case 'earliest':
      return { deliver_policy: 'all' };
    case 'sequence': {
      const seq = Number(start.sequence);
      if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`invalid start sequence ${String(start.sequence)}`);
      return { deliver_policy: 'by_start_sequence', opt_start_seq: seq };
    }
    case 'time':
      if (!Number.isFinite(start.time)) throw new RangeError(`invalid start time ${start.time}`);
      return { deliver_policy: 'by_start_time', opt_start_time: new Date(start.time).toISOString() };
    default:
      throw new TypeError(`unknown start position ${JSON.stringify(start)}`);
  }
}

/** Errors after which the same publish (same `Nats-Msg-Id`) may be sent again. */
function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  const text = `${error.name} ${error.message} ${typeof code === 'string' || typeof code === 'number' ? code : ''}`;
  return /timeout|timed out|disconnect|connection|no responders|503|closed/i.test(text) && !/ClosedConnection|connection closed/i.test(text);
}
