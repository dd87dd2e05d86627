/**
 * Courier's consumer pipeline, the same above every broker:
 *
 *   delivery → [per-key lane] → [rate token] → decode envelope + body → validate payload → deadline check
 *            → inbox check → middleware → handler → inbox commit → ack
 *
 * Outcomes:
 * - **Success**: acknowledged.
 * - **Handler failure**: nacked with capped exponential backoff and jitter (delivered again, attempt + 1),
 *   until `maxAttempts` deliveries have failed; then dead-lettered. An error that says retrying cannot help
 *   (a Courier error with `retryable: false`, such as `ValidationError`) is dead-lettered at once.
 * - **Poison** (the envelope or body does not decode, or the payload fails its schema): dead-lettered at
 *   once; no handler sees it and the consumer carries on.
 * - **Expired** (the message's deadline passed before its handler started): dead-lettered, not handled.
 * - **Duplicate** (the inbox has seen its id): acknowledged without running the handler.
 * Dead-lettering publishes the original message plus `courier-dlq-*` headers to the DLQ topic and then acks
 * it; if that publish fails the message is nacked instead, so it is never lost.
 *
 * Where the broker lacks a feature the pipeline emulates what it safely can: without `delay` a retry's
 * backoff is waited out in the consumer (the lease renewed meanwhile) before the nack; without `orderingByKey`
 * `orderedByKey` serialises each key within this consumer (not across consumers or retries).
 *
 * Shutdown (`close`): no new message starts (those waiting for their key or a rate token are handed back at
 * once), running handlers may finish for `graceMs`, then their context is cancelled; whatever is left
 * unsettled is released to the group. Nothing is lost: every message ends acked (handled, duplicate or
 * dead-lettered) or back with the broker.
 */
import { CancelSource } from '../../core/cancel.js';
import { sleep } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import { envelopeContext, type Envelope } from '../../core/envelope.js';
import { CancelledError, DeadlineExceededError, isNonRetryable } from '../../core/errors.js';
import { type Handler, compose } from '../../core/middleware.js';
import { type RateLimiter, rateLimiter } from '../../policies/rate-limiter.js';
import type { Broker, Delivery, Subscription } from '../broker.js';
import { type DeadLetterReason, deadLetterMessage } from '../dlq.js';
import { MessageDecoder } from './decode.js';
import type { ConsumerEvent } from './events.js';
import { FailureMemory } from './failure-memory.js';
import type { Inbox } from './inbox.js';
import { KeyLanes } from './key-lanes.js';
import { LeaseRenewer } from './lease-renewer.js';
import { type ConsumeOptions, type ConsumedMessage, type ResolvedConsumeOptions, resolveConsumeOptions } from './options.js';
import { retryDelay } from './retry-delay.js';

export interface ConsumerStats {
  /** Handled successfully and acknowledged. */
  readonly handled: number;
  /** Failed and scheduled for another delivery. */
  readonly retried: number;
  readonly deadLettered: number;
  readonly duplicates: number;
  /** Handed back unhandled because the consumer was closing. */
  readonly released: number;
  /** Background failures (settle, lease renewal, DLQ publish). */
  readonly errors: number;
  /** Deliveries held right now. */
  readonly inFlight: number;
}

export interface CloseOptions {
  /** How long running handlers may continue before their context is cancelled, ms. Default 30 000. */
  readonly graceMs?: number;
}

export interface Consumer {
  readonly topic: string;
  readonly group: string;
  /** Where this consumer dead-letters (`false`: it drops dead letters). */
  readonly dlqTopic: string | false;
  readonly stats: ConsumerStats;
  /** Stop taking messages, let running handlers finish (see `CloseOptions`), release the rest. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One consumer: a subscription whose deliveries run through the pipeline. Created by `consume`. */
export class Pipeline implements Consumer {
  readonly group: string;
  readonly dlqTopic: string | false;
  private readonly o: ResolvedConsumeOptions;
  private readonly decoder: MessageDecoder;
  private readonly chain: Handler<ConsumedMessage, void>;
  private readonly inbox: Inbox | undefined;
  private readonly limiter: RateLimiter | undefined;
  private readonly lanes: KeyLanes | undefined;
  private readonly failures = new FailureMemory();
  /** Cancelled when `close` begins: nothing new starts. */
  private readonly stopping = new CancelSource();
  /** Cancelled when the grace period ends: the handlers' contexts. */
  private readonly shutdown: CancelSource;
  private readonly base: Context;
  private readonly counters: Mutable<ConsumerStats> = {
    handled: 0,
    retried: 0,
    deadLettered: 0,
    duplicates: 0,
    released: 0,
    errors: 0,
    inFlight: 0,
  };
  private subscription: Subscription | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly broker: Broker,
    readonly topic: string,
    private readonly options: ConsumeOptions<any>,
  ) {
    this.o = resolveConsumeOptions(topic, options, broker.features);
    this.group = this.o.group;
    this.dlqTopic = this.o.dlqTopic;
    this.decoder = new MessageDecoder(options.event?.schema ?? options.schema, options.event?.type);
    const handler = options.handler;
    const inner: Handler<ConsumedMessage, void> = (consumed, ctx) => handler(consumed.payload, ctx, consumed);
    this.chain = compose(options.middleware ?? [])(inner);
    this.inbox = options.inbox;
    const rate = options.rateLimit;
    this.limiter = rate === undefined ? undefined : typeof rate === 'function' ? rate : rateLimiter({ clock: this.o.clock, ...rate });
    this.lanes = this.o.orderedByKey && !broker.features.orderingByKey ? new KeyLanes() : undefined;
    this.shutdown = new CancelSource(this.o.context.cancel);
    this.base = this.o.context.with({ cancel: this.shutdown });
  }

  get stats(): ConsumerStats {
    return { ...this.counters };
  }

  async start(): Promise<void> {
    this.subscription = await this.broker.subscribe(
      this.topic,
      { group: this.group, prefetch: this.o.concurrency, leaseMs: this.o.leaseMs, start: this.options.start },
      this.onDelivery,
    );
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.doClose(options.graceMs ?? 30_000);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    this.stopping.cancel(new CancelledError('consumer closing'));
    const { clock } = this.o;
    const timer = clock.setTimeout(
      () => this.shutdown.cancel(new CancelledError('consumer closed before the handler finished')),
      Math.max(0, graceMs),
    );
    try {
      await this.subscription?.close();
    } finally {
      clock.clearTimeout(timer);
      this.shutdown.dispose();
    }
  }

  private readonly onDelivery = async (delivery: Delivery): Promise<void> => {
    this.counters.inFlight++;
    const renewer = this.o.extendLease ? new LeaseRenewer(delivery, this.o.leaseMs, this.o.clock, this.reportError) : undefined;
    try {
      const key = delivery.message.key;
      if (this.lanes !== undefined && key !== undefined) await this.lanes.run(key, () => this.process(delivery));
      else await this.process(delivery);
    } catch (error) {
      this.reportError(error); // process() handles its own failures; this is a bug guard, the dispatcher nacks
    } finally {
      renewer?.stop();
      this.counters.inFlight--;
    }
  };

  private async process(delivery: Delivery): Promise<void> {
    const { message } = delivery;
    if (this.stopping.isCancelled || !(await this.waitForRateToken())) return this.release(delivery);
    let consumed: ConsumedMessage;
    try {
      const decoded = await this.decoder.decode(message);
      consumed = { payload: decoded.payload, envelope: decoded.envelope, message };
    } catch (error) {
      return this.giveUp(delivery, 'poison', error);
    }
    const ctx = this.contextFor(consumed.envelope, message.attempt);
    if (ctx.deadline !== undefined && ctx.deadline <= this.o.clock.now()) {
      return this.giveUp(delivery, 'expired', new DeadlineExceededError('the message deadline passed before its handler started'));
    }
    const started = this.o.clock.now();
    try {
      if (this.inbox !== undefined && (await this.inbox.check(consumed.envelope.id, this.group)) === 'duplicate') {
        this.counters.duplicates++;
        this.emit({ type: 'duplicate', message });
        return this.settle(delivery, 'ack');
      }
      await this.chain(consumed, ctx);
      await this.inbox?.commit(consumed.envelope.id, this.group);
    } catch (error) {
      if (this.shutdown.isCancelled) return this.release(delivery); // aborted by close: not the message's fault
      return this.failed(delivery, error);
    }
    this.failures.forget(message.id);
    this.counters.handled++;
    this.emit({ type: 'handled', message, durationMs: this.o.clock.now() - started });
    return this.settle(delivery, 'ack');
  }

  private contextFor(envelope: Envelope, attempt: number): Context {
    return envelopeContext(envelope, this.base).with({ attempt, operation: envelope.type, idempotencyKey: envelope.id });
  }

  private async failed(delivery: Delivery, error: unknown): Promise<void> {
    const { message } = delivery;
    const firstFailureAt = this.failures.record(message.id, this.o.clock.now());
    const retryable = this.options.isRetryable ? this.options.isRetryable(error) : !isNonRetryable(error);
    if (!retryable) return this.giveUp(delivery, 'non-retryable', error, firstFailureAt);
    if (message.attempt >= this.o.maxAttempts) return this.giveUp(delivery, 'max-attempts', error, firstFailureAt);
    const delayMs = retryDelay(message.attempt, error, this.o);
    this.counters.retried++;
    this.emit({ type: 'retry', message, error, delayMs });
    return this.retryLater(delivery, delayMs);
  }

  /** Nack so the message comes back after `delayMs`; waits the delay out here if the broker cannot. */
  private async retryLater(delivery: Delivery, delayMs: number): Promise<void> {
    if (delayMs > 0 && !this.broker.features.delay) {
      try {
        await sleep(delayMs, this.o.clock, this.stopping);
      } catch {
        // closing: hand it back now
      }
      return this.settle(delivery, 'nack', 0);
    }
    return this.settle(delivery, 'nack', delayMs);
  }

  private async giveUp(delivery: Delivery, reason: DeadLetterReason, error: unknown, firstFailureAt?: number): Promise<void> {
    const { message } = delivery;
    const now = this.o.clock.now();
    if (this.dlqTopic !== false) {
      const record = deadLetterMessage(message, {
        reason,
        error,
        attempts: message.attempt,
        firstFailureAt: firstFailureAt ?? now,
        lastFailureAt: now,
        group: this.group,
      });
      try {
        await this.broker.publish(this.dlqTopic, record);
      } catch (publishError) {
        // Not acked, so not lost: the message comes back and is dead-lettered again.
        this.reportError(publishError, message);
        return this.retryLater(delivery, retryDelay(message.attempt, publishError, this.o));
      }
    }
    this.failures.forget(message.id);
    this.counters.deadLettered++;
    this.emit({ type: 'dead-lettered', message, reason, error, dlqTopic: this.dlqTopic });
    return this.settle(delivery, 'ack');
  }

  private release(delivery: Delivery): void {
    // Left unsettled: the closing subscription hands it back to the group.
    this.counters.released++;
    this.emit({ type: 'released', message: delivery.message });
  }

  private async settle(delivery: Delivery, outcome: 'ack' | 'nack', delayMs = 0): Promise<void> {
    try {
      if (outcome === 'ack') await delivery.ack();
      else await delivery.nack({ delayMs });
    } catch (error) {
      this.reportError(error, delivery.message); // the broker will redeliver; the inbox dedups
    }
  }

  /** Wait for a token from the rate limiter; false when the consumer started closing meanwhile. */
  private async waitForRateToken(): Promise<boolean> {
    if (this.limiter === undefined) return true;
    for (;;) {
      const waitMs = this.limiter.tryAcquire();
      if (waitMs === 0) return true;
      try {
        await sleep(waitMs, this.o.clock, this.stopping);
      } catch {
        return false;
      }
    }
  }

  private readonly reportError = (error: unknown, message?: Delivery['message']): void => {
    this.counters.errors++;
    this.emit({ type: 'error', error, message });
  };

  private emit(event: ConsumerEvent): void {
    const listener = this.options.onEvent;
    if (listener === undefined) return;
    try {
      listener(event);
    } catch {
      // a listener's failure must not change what happens to the message
    }
  }
}
