/**
 * Keeps a delivery's lease alive while the pipeline holds it (waiting for its key's turn, for a rate token,
 * in the handler): `extend(leaseMs)` every half lease, so a long handler is not mistaken for a dead consumer
 * and its message handed to someone else. Stopped as soon as the delivery is settled.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Delivery } from '../broker.js';

export class LeaseRenewer {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly delivery: Delivery,
    private readonly leaseMs: number,
    private readonly clock: Clock,
    private readonly onError: (error: unknown) => void,
  ) {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(this.renew, Math.max(1, Math.floor(this.leaseMs / 2)));
  }

  private readonly renew = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    this.delivery.extend(this.leaseMs).catch(this.onError);
    this.schedule();
  };
}
