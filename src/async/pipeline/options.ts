/**
 * What `consume` accepts, its defaults, and the checks that reject a bad configuration when the consumer is
 * created rather than on the first message.
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { Context } from '../../core/context.js';
import type { EventDef, Schema } from '../../core/contract.js';
import type { Envelope } from '../../core/envelope.js';
import type { Middleware } from '../../core/middleware.js';
import type { Jitter } from '../../policies/backoff.js';
import type { RateLimiter, RateLimiterOptions } from '../../policies/rate-limiter.js';
import type { BrokerFeatures, ReceivedMessage, StartPosition } from '../broker.js';
import { defaultDlqTopic } from '../dlq.js';
import type { ConsumerEvent } from './events.js';
import type { Inbox } from './inbox.js';

/** A decoded, validated message as the middleware chain and the handler see it. */
export interface ConsumedMessage<P = unknown> {
  readonly payload: P;
  readonly envelope: Envelope;
  /** The delivery as the broker made it (topic, key, attempt, sequence, raw headers and body). */
  readonly message: ReceivedMessage;
}

/** The user's code for one message. Resolve to have it acknowledged; throw to have it retried or dead-lettered. */
export type MessageHandler<P> = (payload: P, ctx: Context, consumed: ConsumedMessage<P>) => Promise<void>;

export interface BackoffSettings {
  /** Delay before the first retry, ms. Default 1 000. */
  readonly baseMs?: number;
  /** Largest delay before any retry, ms. Default 60 000. */
  readonly maxMs?: number;
  /** Default `full`: uniform in [0, min(maxMs, baseMs · 2^(retry-1))]. */
  readonly jitter?: Jitter;
}

/** Options of `consume`, typed by the payload `T` the handler receives. */
export interface ConsumeOptions<T = unknown> {
  /** Consumer group: consumers sharing it compete for messages; each group gets every message. */
  readonly group: string;
  /** The contract event this topic carries: its schema validates payloads, its type must match `ce-type`. */
  readonly event?: EventDef<Schema<T>>;
  /** A schema for the payload, when there is no event definition. */
  readonly schema?: Schema<T>;
  readonly handler: MessageHandler<T>;
  /** Deliveries before a failing message is dead-lettered. Default 5. */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffSettings;
  /** Messages handled at once (the subscription's prefetch). Default 16. */
  readonly concurrency?: number;
  /**
   * Handle the messages of one key one at a time, in delivery order. Brokers with `orderingByKey` already
   * do (across all consumers and retries); on others the pipeline serialises keys within this consumer only.
   */
  readonly orderedByKey?: boolean;
  /** Start at most this many handlers per second (a token bucket; pass a `RateLimiter` to share one). */
  readonly rateLimit?: RateLimiter | RateLimiterOptions;
  /** Lease of each delivery, ms. Default 30 000. */
  readonly leaseMs?: number;
  /** Renew the lease every half lease while the message is held (default true where the broker can). */
  readonly extendLease?: boolean;
  /** Dedup by message id before the handler; committed after the handler succeeds. */
  readonly inbox?: Inbox;
  /** Where dead letters go. Default `<topic>.dlq`; `false` drops them (reported through `onEvent`). */
  readonly dlqTopic?: string | false;
  /** Wrapped around the handler, outermost first (the `core/middleware` shape). */
  readonly middleware?: ReadonlyArray<Middleware<ConsumedMessage<T>, void>>;
  /** Overrides `isNonRetryable` (Courier errors whose `retryable` is false) for handler errors. */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Where a new group starts. Default `latest`. */
  readonly start?: StartPosition;
  /** Parent of every handler's context (its cancellation stops the handlers' work). */
  readonly context?: Context;
  readonly clock?: Clock;
  /** Uniform random in [0, 1) for backoff jitter (inject a seeded one in tests). */
  readonly random?: () => number;
  /** Everything the consumer does, for metrics and logs. A throwing listener is ignored. */
  readonly onEvent?: (event: ConsumerEvent) => void;
}

export interface ResolvedConsumeOptions {
  readonly group: string;
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly jitter: Jitter;
  readonly concurrency: number;
  readonly orderedByKey: boolean;
  readonly leaseMs: number;
  readonly extendLease: boolean;
  readonly dlqTopic: string | false;
  readonly clock: Clock;
  readonly random: () => number;
  readonly context: Context;
}

const JITTERS: ReadonlySet<string> = new Set<Jitter>(['full', 'decorrelated', 'none']);

export function resolveConsumeOptions(
  topic: string,
  options: ConsumeOptions<any>,
  features: BrokerFeatures,
): ResolvedConsumeOptions {
  if (typeof topic !== 'string' || topic === '')
    throw new TypeError('consume: topic must be a non-empty string');
  if (typeof options?.group !== 'string' || options.group === '')
    throw new TypeError('consume: `group` is required');
  if (typeof options.handler !== 'function') throw new TypeError('consume: `handler` must be a function');
  if (options.event !== undefined && options.schema !== undefined)
    throw new TypeError('consume: give `event` or `schema`, not both');
  const baseMs = nonNegative(options.backoff?.baseMs, 1_000, 'backoff.baseMs');
  const maxMs = nonNegative(options.backoff?.maxMs, Math.max(60_000, baseMs), 'backoff.maxMs');
  if (maxMs < baseMs)
    throw new RangeError(`consume: backoff.maxMs (${maxMs}) is below backoff.baseMs (${baseMs})`);
  const jitter = options.backoff?.jitter ?? 'full';
  if (!JITTERS.has(jitter)) throw new RangeError(`consume: unknown backoff.jitter "${String(jitter)}"`);
  const dlqTopic = options.dlqTopic ?? defaultDlqTopic(topic);
  if (dlqTopic === topic) throw new RangeError('consume: dlqTopic must differ from the topic');
  return {
    group: options.group,
    maxAttempts: positiveInt(options.maxAttempts, 5, 'maxAttempts'),
    baseMs,
    maxMs,
    jitter,
    concurrency: positiveInt(options.concurrency, 16, 'concurrency'),
    orderedByKey: options.orderedByKey ?? false,
    leaseMs: positiveInt(options.leaseMs, 30_000, 'leaseMs'),
    extendLease: (options.extendLease ?? true) && features.leaseExtension,
    dlqTopic,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    context: options.context ?? Context.background,
  };
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`consume: ${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value >= 0))
    throw new RangeError(`consume: ${name} must be a finite number ≥ 0, got ${value}`);
  return value;
}
