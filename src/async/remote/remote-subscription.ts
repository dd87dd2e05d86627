/**
 * The client's half of one remote subscription. Deliveries arriving from the server go through the adapter
 * kit's `Dispatcher`, which gives the handler its `Delivery` and enforces what lives in the client: prefetch,
 * settle once, the local lease (running out sends EXPIRE, and the server nacks the delivery), a throwing
 * handler's nack, and `close()` waiting for running handlers.
 *
 * A subscription outlives connections: when the connection drops, its deliveries are dropped here (the
 * server released them to the group, so settling them later is a no-op) and the client subscribes again,
 * with the same id, on the next connection.
 */
import type { Clock } from '../../core/clock.js';
import { Dispatcher } from '../adapter-kit/dispatcher.js';
import type { ResolvedSubscribeOptions } from '../adapter-kit/options.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import type { ClientLink } from './client-link.js';
import { SettleOp } from './protocol.js';

/** A delivery as the dispatcher knows it: its id on the connection that carried it. */
export interface RemoteRaw {
  readonly deliveryId: number;
  readonly link: ClientLink;
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  /** Send a subscribe / unsubscribe request on the current connection. */
  control(request: object, afterDisconnect: 'drop' | 'resolve'): Promise<unknown>;
  settle(raw: RemoteRaw, op: SettleOp, ms: number): Promise<void>;
  forget(subscription: RemoteSubscription): void;
}

type State = 'opening' | 'open' | 'closing' | 'closed';

export class RemoteSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<RemoteRaw>;
  private state: State = 'opening';
  private closing: Promise<void> | undefined;
  private resolveOpen!: () => void;
  private rejectOpen!: (error: Error) => void;
  /** Settles when the first subscribe succeeded (or failed: then the subscription is gone). */
  readonly opened: Promise<void>;

  constructor(
    private readonly host: SubscriptionHost,
    readonly subId: number,
    readonly topic: string,
    private readonly options: ResolvedSubscribeOptions,
    handler: DeliveryHandler,
  ) {
    this.opened = new Promise<void>((resolve, reject) => {
      this.resolveOpen = resolve;
      this.rejectOpen = reject;
    });
    this.dispatcher = new Dispatcher<RemoteRaw>({
      prefetch: options.prefetch,
      leaseMs: options.leaseMs,
      clock: host.clock,
      handler,
      onError: host.onError,
      settlement: {
        ack: (raw) => host.settle(raw, SettleOp.ACK, 0),
        nack: (raw, delayMs) => host.settle(raw, SettleOp.NACK, delayMs),
        extend: (raw, ms) => host.settle(raw, SettleOp.EXTEND, ms),
        expire: (raw) => host.settle(raw, SettleOp.EXPIRE, 0),
        // Unsubscribing makes the server close its broker subscription, which releases these.
        release: () => Promise.resolve(),
      },
    });
  }

  get group(): string {
    return this.options.group;
  }

  /** Wants to be subscribed on the next connection. */
  get active(): boolean {
    return this.state === 'opening' || this.state === 'open';
  }

  /** Subscribe on the current connection (first time, or again after a reconnect). */
  establish(): void {
    const { group, prefetch, leaseMs, start } = this.options;
    this.host.control({ op: 'subscribe', subId: this.subId, topic: this.topic, group, prefetch, leaseMs, start }, 'drop').then(
      () => {
        if (this.state !== 'opening') return;
        this.state = 'open';
        this.resolveOpen();
      },
      (error: unknown) => {
        if (this.state === 'opening') this.failOpen(error instanceof Error ? error : new Error(String(error)));
        else this.host.onError(error);
      },
    );
  }

  /** The first subscribe cannot happen (the server refused it, or stayed unreachable). */
  failOpen(error: Error): void {
    if (this.state !== 'opening') return;
    this.state = 'closed';
    this.host.forget(this);
    this.rejectOpen(error);
    void this.dispatcher.close();
  }

  deliver(message: ReceivedMessage, raw: RemoteRaw): void {
    this.dispatcher.dispatch(message, raw);
  }

  /** The connection died: its deliveries are over for this consumer. */
  linkLost(link: ClientLink): void {
    this.dispatcher.drop((raw) => raw.link === link);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.state === 'opening') await this.opened.catch(() => undefined);
    if (this.state === 'closed') return;
    this.state = 'closing';
    await this.dispatcher.close();
    try {
      await this.host.control({ op: 'unsubscribe', subId: this.subId }, 'resolve');
    } catch (error) {
      this.host.onError(error);
    } finally {
      this.state = 'closed';
      this.host.forget(this);
    }
  }
}
