/**
 * Long lease extensions on brokers whose lease length is fixed per consumer (Redis pending-entry idle time,
 * JetStream ack wait): `Delivery.extend(ms)` with `ms` longer than that lease is kept by renewing the
 * broker's lease every half lease until `ms` has passed, or until the delivery is settled (`stop`).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export class LeaseKeeper<K> {
  private readonly timers = new Map<K, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    /** The broker's fixed lease, in ms. */
    private readonly leaseMs: number,
    /** Renew the broker's lease for `key` once. */
    private readonly renew: (key: K) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Renew now, and keep renewing until `ms` from now if that is longer than one lease. */
  async extend(key: K, ms: number): Promise<void> {
    this.stop(key);
    await this.renew(key);
    if (ms > this.leaseMs) this.keep(key, this.clock.now() + ms);
  }

  stop(key: K): void {
    const timer = this.timers.get(key);
    if (timer === undefined) return;
    this.clock.clearTimeout(timer);
    this.timers.delete(key);
  }

  stopAll(): void {
    for (const timer of this.timers.values()) this.clock.clearTimeout(timer);
    this.timers.clear();
  }

  private keep(key: K, until: number): void {
    const every = Math.max(1, Math.floor(this.leaseMs / 2));
    const tick = (): void => {
      if (this.clock.now() >= until) {
        this.timers.delete(key);
        return;
      }
      this.timers.set(key, this.clock.setTimeout(tick, every));
      this.renew(key).catch(this.onError);
    };
    this.timers.set(key, this.clock.setTimeout(tick, every));
  }
}
