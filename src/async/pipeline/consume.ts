import { type Clock, type TimerHandle, systemClock } from '../../core/clock.js';
import { Context } from '../../core/context.js';
import type { EventDef, EventPayload, Schema } from '../../core/contract.js';
import { type Envelope, decodeEnvelope, envelopeContext } from '../../core/envelope.js';
import { DeadlineExceededError, ValidationError, isNonRetryable } from '../../core/errors.js';
import { type Middleware, wrap } from '../../core/middleware.js';
import { type Jitter, backoffDelay } from '../../policies/backoff.js';
import { compile } from '../../schema/compile.js';
import type { Broker, Delivery, ReceivedMessage, StartPosition } from '../broker.js';
import { type DeadLetterReason, publishDeadLetter } from './dead-letter.js';
import { deadLetterTopicOf, topicOf } from './topics.js';

/**
 * Courier's consumer pipeline, the same above every broker:
 *
 *   decode envelope → parse JSON → validate against the contract → inbox dedup → middleware → handler → ack
 *
 * - A handler error is retried by redelivery: `nack` with a capped exponential backoff with jitter, until
 *   `maxAttempts` deliveries; then the message is dead-lettered (original headers and body + the reason) and
 *   the original acked. An error marked non-retryable (`retryable: false`, e.g. `ValidationError`) skips the
 *   retries.
 * - A message that cannot be decoded or fails its schema is poison: straight to the DLQ with the reason; the
 *   consumer keeps running.
 * - A message whose deadline passed is dead-lettered as `expired` without running the handler.
 * - While a handler runs, its lease is extended every `leaseMs / 2`, so a slow handler is not redelivered.
 * - `close()` stops taking messages, waits for running handlers and releases what is unsettled: nothing is
 *   lost, at worst a message is handled again (use an inbox to make that harmless).
 */
export interface Inbox {
  /** True if this consumer group already processed message `id`. */
  seen(id: string, group: string): Promise<boolean>;
  /** Record that `id` was processed by `group` (called after the handler succeeded, before the ack). */
  remember(id: string, group: string): Promise<void>;
}

export interface BackoffSettings {
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly jitter?: Jitter;
  readonly random?: () => number;
}

export type MessageHandler<T> = (payload: T, ctx: Context, message: ReceivedMessage) => Promise<void>;

export interface ConsumeOptions<T> {
  readonly group: string;
  readonly handler: MessageHandler<T>;
  /** Payload schema; without one the parsed JSON is passed through. */
  readonly schema?: Schema<T>;
  /** Deliveries before dead-lettering. Default 5. */
  readonly maxAttempts?: number;
  /** Redelivery backoff. Default base 200 ms, cap 30 s, full jitter. */
  readonly backoff?: BackoffSettings;
  /** Max messages handled at once (the subscription's prefetch). Default 16. */
  readonly concurrency?: number;
  readonly leaseMs?: number;
  readonly start?: StartPosition;
  readonly inbox?: Inbox;
  /** Default `<topic>.dlq`. */
  readonly deadLetterTopic?: string;
  /** Wraps the handler (outermost first), e.g. tracing, metrics, a timeout. */
  readonly middleware?: ReadonlyArray<Middleware<T, void>>;
  /** Envelope header prefix used by the broker adapter. Default `ce-`. */
  readonly envelopePrefix?: string;
  readonly clock?: Clock;
  /** Called for failures the pipeline handled (retries, dead letters) and for its own background errors. */
  readonly onEvent?: (event: PipelineEvent) => void;
}

export type PipelineEvent =
  | {
      readonly kind: 'retry';
      readonly messageId: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: unknown;
    }
  | {
      readonly kind: 'dead-letter';
      readonly messageId: string;
      readonly reason: DeadLetterReason;
      readonly error: unknown;
    }
  | { readonly kind: 'duplicate'; readonly messageId: string }
  | { readonly kind: 'error'; readonly messageId: string; readonly error: unknown };

export interface Consumer {
  readonly topic: string;
  readonly group: string;
  close(): Promise<void>;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Consume `topic` through the pipeline. */
export async function consume<T>(
  broker: Broker,
  topic: string,
  options: ConsumeOptions<T>,
): Promise<Consumer> {
  const clock = options.clock ?? systemClock;
  const maxAttempts = options.maxAttempts ?? 5;
  const leaseMs = options.leaseMs ?? 30_000;
  const dlqTopic = options.deadLetterTopic ?? deadLetterTopicOf(topic);
  const validator = options.schema ? compile(options.schema) : undefined;
  const backoff = {
    baseMs: options.backoff?.baseMs ?? 200,
    maxMs: options.backoff?.maxMs ?? 30_000,
    jitter: options.backoff?.jitter ?? 'full',
    random: options.backoff?.random ?? Math.random,
  } as const;
  const handle = wrap<T, void>(
    (payload, ctx) => options.handler(payload, ctx, (ctx as PipelineContext).message!),
    options.middleware ?? [],
  );
  /** First failure time per message, for the dead letter (in memory: a restart forgets it). */
  const firstFailure = new Map<string, number>();
  const emit = (event: PipelineEvent) => options.onEvent?.(event);

  const deadLetter = async (d: Delivery, reason: DeadLetterReason, error: unknown): Promise<void> => {
    const now = clock.now();
    const first = firstFailure.get(d.message.id) ?? now;
    firstFailure.delete(d.message.id);
    await publishDeadLetter(broker, dlqTopic, d.message, {
      reason,
      error,
      attempts: d.message.attempt,
      firstFailureAt: first,
      lastFailureAt: now,
      group: options.group,
    });
    emit({ kind: 'dead-letter', messageId: d.message.id, reason, error });
    await d.ack();
  };

  const onDelivery = async (d: Delivery): Promise<void> => {
    // 1. decode and validate: failures here are poison, never retried.
    let envelope: Envelope;
    let payload: T;
    try {
      envelope = decodeEnvelope(d.message.headers, options.envelopePrefix);
      const json: unknown = JSON.parse(decoder.decode(d.message.body));
      payload = validator ? validator.validate(json, `payload of ${envelope.type}`) : (json as T);
    } catch (error) {
      return deadLetter(
        d,
        'poison',
        error instanceof SyntaxError || error instanceof TypeError
          ? new ValidationError([{ path: [], message: `body is not JSON: ${error.message}` }], 'message body')
          : error,
      );
    }
    const ctx = new PipelineContext(
      envelopeContext(envelope).with({ attempt: d.message.attempt, operation: `consume ${topic}` }),
      d.message,
    );
    if (ctx.deadline !== undefined && ctx.deadline <= clock.now()) {
      return deadLetter(
        d,
        'expired',
        new DeadlineExceededError('message deadline passed before it was handled'),
      );
    }
    // 2. inbox: a message this group already processed is acked without running the handler again.
    if (options.inbox && (await options.inbox.seen(envelope.id, options.group))) {
      emit({ kind: 'duplicate', messageId: d.message.id });
      return d.ack();
    }
    // 3. the handler, with the lease kept alive while it runs.
    const keepAlive = startKeepAlive(d, leaseMs, clock);
    try {
      await handle(payload, ctx);
    } catch (error) {
      keepAlive.stop();
      return onFailure(d, error);
    }
    keepAlive.stop();
    firstFailure.delete(d.message.id);
    if (options.inbox) await options.inbox.remember(envelope.id, options.group);
    await d.ack();
  };

  const onFailure = async (d: Delivery, error: unknown): Promise<void> => {
    const attempt = d.message.attempt;
    if (!firstFailure.has(d.message.id)) firstFailure.set(d.message.id, clock.now());
    if (isNonRetryable(error)) return deadLetter(d, 'non-retryable', error);
    if (attempt >= maxAttempts) return deadLetter(d, 'max-attempts', error);
    const delayMs = Math.round(redeliveryDelay(attempt, backoff));
    emit({ kind: 'retry', messageId: d.message.id, attempt, delayMs, error });
    await d.nack({ delayMs });
  };

  const subscription = await broker.subscribe(
    topic,
    { group: options.group, prefetch: options.concurrency ?? 16, leaseMs, start: options.start },
    async (d) => {
      try {
        await onDelivery(d);
      } catch (error) {
        // The pipeline itself failed (the DLQ publish, the inbox): leave the message to the broker for redelivery.
        emit({ kind: 'error', messageId: d.message.id, error });
        await d
          .nack({ delayMs: Math.round(redeliveryDelay(d.message.attempt, backoff)) })
          .catch(() => undefined);
      }
    },
  );
  return { topic, group: options.group, close: () => subscription.close() };
}

/** Consume a contract event: its topic and schema come from the contract. */
export function consumeEvent<E extends EventDef>(
  broker: Broker,
  event: E,
  options: Omit<ConsumeOptions<EventPayload<E>>, 'schema'>,
): Promise<Consumer> {
  return consume(broker, topicOf(event), { ...options, schema: event.schema as Schema<EventPayload<E>> });
}

/**
 * The delay before redelivering a message whose `attempt`-th delivery failed: capped exponential with jitter
 * (see `backoffDelay`). Decorrelated jitter needs the previous delay, which a redelivery does not carry, so the
 * uncapped exponential delay of the previous attempt stands in for it.
 */
export function redeliveryDelay(
  attempt: number,
  backoff: { baseMs: number; maxMs: number; jitter: Jitter; random: () => number },
): number {
  const previous = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 2));
  return backoffDelay(attempt, previous, backoff);
}

/** The handler's context, carrying the delivery's message for the handler's third argument. */
class PipelineContext extends Context {
  constructor(
    base: Context,
    readonly message?: ReceivedMessage,
  ) {
    super(base);
  }
}

function startKeepAlive(d: Delivery, leaseMs: number, clock: Clock): { stop(): void } {
  let timer: TimerHandle | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    d.extend(leaseMs).catch(() => undefined);
    timer = clock.setTimeout(tick, leaseMs / 2);
  };
  timer = clock.setTimeout(tick, leaseMs / 2);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}
