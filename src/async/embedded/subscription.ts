/**
 * A subscription (one consumer of a group) and the deliveries it receives.
 *
 * The group pushes a delivery by calling the handler at once; the handler settles it with `ack`/`nack`,
 * now or later. A handler that throws or rejects without settling gets its delivery nacked (redelivered
 * without delay): the consumer pipeline above settles explicitly, so this only catches bugs. A handler
 * that returns without settling keeps the delivery leased until it settles or the lease runs out.
 *
 * `close()` stops new deliveries, waits for running handlers to finish (their settlements apply), then
 * returns this subscriber's unsettled deliveries to the group.
 */
import type { Delivery, DeliveryHandler, NackOptions, ReceivedMessage, Subscription } from '../broker.js';
import { ENCODED_ENTRY, type CarriesEncodedEntry, type StoredEntry } from '../encoded-entry.js';
import { LoggedMessage } from './batch-codec.js';
import type { Entry, GroupRuntime, Subscriber } from './group.js';

export class EmbeddedDelivery implements Delivery, CarriesEncodedEntry {
  private received: ReceivedMessage | undefined;
  readonly attempt: number;

  constructor(
    private readonly topic: string,
    private readonly group: GroupRuntime,
    private readonly entry: Entry,
    private readonly token: number,
  ) {
    this.attempt = entry.deliveries;
  }

  /** Built on first read: a delivery forwarded as its stored bytes (see `[ENCODED_ENTRY]`) never decodes it. */
  get message(): ReceivedMessage {
    if (this.received === undefined) {
      const m = this.entry.message;
      this.received = { id: m.id, topic: this.topic, key: m.key, headers: m.headers, body: m.body, attempt: this.attempt, sequence: m.seq, publishedAt: m.publishedAt };
    }
    return this.received;
  }

  [ENCODED_ENTRY](): StoredEntry | undefined {
    const m = this.entry.message;
    return m instanceof LoggedMessage ? m : undefined;
  }

  ack(): Promise<void> {
    return this.group.ack(this.entry, this.token);
  }

  nack(options?: NackOptions): Promise<void> {
    return this.group.nack(this.entry, this.token, options?.delayMs ?? 0);
  }

  extend(ms?: number): Promise<void> {
    this.group.extend(this.entry, this.token, ms);
    return Promise.resolve();
  }

  /** Still leased to this delivery (not settled, not expired, not released). */
  get unsettled(): boolean {
    return this.group.isCurrent(this.entry, this.token);
  }
}

export class EmbeddedSubscription implements Subscription, Subscriber {
  unsettled = 0;
  private running = 0;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(
    private readonly runtime: GroupRuntime,
    readonly prefetch: number,
    readonly leaseMs: number,
    private readonly handler: DeliveryHandler,
    private readonly onClosed: (subscription: EmbeddedSubscription) => void,
  ) {}

  get topic(): string {
    return this.runtime.topic.name;
  }

  get group(): string {
    return this.runtime.name;
  }

  deliver(entry: Entry, token: number): void {
    const delivery = new EmbeddedDelivery(this.runtime.topic.name, this.runtime, entry, token);
    this.running++;
    let result: unknown;
    try {
      result = this.handler(delivery);
    } catch (error) {
      this.failed(delivery, error);
      return;
    }
    if (isThenable(result)) {
      result.then(this.finished, (error: unknown) => this.failed(delivery, error));
    } else {
      this.finished();
    }
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.runtime.removeSubscriber(this);
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.runtime.releaseSubscriber(this);
    this.onClosed(this);
  }

  private failed(delivery: EmbeddedDelivery, _error: unknown): void {
    if (delivery.unsettled) void delivery.nack().catch(() => undefined);
    this.finished();
  }

  private readonly finished = (): void => {
    this.running--;
    if (this.running === 0 && this.idle !== undefined) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
