/**
 * The server's half of one remote subscription: a real subscription on the served broker, whose
 * deliveries are forwarded to the client within a credit of `prefetch` (see "Flow control" in
 * `protocol.ts`). The server's handler returns at once and leaves the delivery leased; the client's
 * settlement frame settles it later. Closing the broker subscription returns whatever the client had not
 * settled to the group, by the served broker's own rules (attempt + 1 on the next delivery).
 */
import type { Delivery, Subscription } from '../broker.js';

export class ServedSubscription {
  /** Deliveries the client may still receive before it settles one. */
  credit: number;
  closing = false;
  subscription: Subscription | undefined;
  opening: Promise<void> = Promise.resolve();
  /** Deliveries the broker handed over while the client had no credit left. */
  private readonly waiting: Delivery[] = [];

  constructor(
    readonly subId: number,
    prefetch: number,
    private readonly forward: (sub: ServedSubscription, delivery: Delivery) => void,
  ) {
    this.credit = prefetch;
  }

  /**
   * The broker's handler: forward now, or hold until credit returns. Returns nothing: it never waits (the
   * delivery stays leased until the client settles it), so the broker has no promise to follow.
   */
  readonly handle = (delivery: Delivery): void => {
    if (this.closing) return; // left unsettled: closing the subscription releases it
    if (this.credit > 0) {
      this.credit--;
      this.forward(this, delivery);
    } else {
      this.waiting.push(delivery);
    }
  };

  /** A delivery of this subscription ended on the client: one more may go. */
  returnCredit(): void {
    this.credit++;
    while (this.credit > 0 && this.waiting.length > 0 && !this.closing) {
      this.credit--;
      this.forward(this, this.waiting.shift()!);
    }
  }

  /** Stop forwarding and close the broker subscription (releasing unsettled deliveries to the group). */
  async close(): Promise<void> {
    this.closing = true;
    this.waiting.length = 0;
    await this.opening.catch(() => undefined);
    await this.subscription?.close();
  }
}
