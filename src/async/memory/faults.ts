import { CourierError } from '../../core/errors.js';

/**
 * Fault injection for users' tests: the memory broker can misbehave the way real brokers do, reproducibly
 * (a seeded RNG, the broker's clock), so that a consumer's idempotency and ordering assumptions get tested.
 */
export interface Faults {
  /** RNG seed; the same seed gives the same faults. Default 1. */
  readonly seed?: number;
  /** Probability (0–1) that a published message is stored twice (a duplicate delivery, as after a lost ack). */
  readonly duplicateRate?: number;
  /** Deliver due messages without a key in random order instead of publish order. */
  readonly reorder?: boolean;
  /** Extra delay before every message becomes deliverable, in ms. */
  readonly latencyMs?: number;
  /** Broker outages, as [from, to) times in ms relative to the broker's creation: publishes fail, deliveries pause. */
  readonly outages?: ReadonlyArray<{ readonly fromMs: number; readonly toMs: number }>;
}

/** A publish during an injected outage. Retryable, like a lost connection. */
export class BrokerUnavailableError extends CourierError {
  constructor(message = 'broker unavailable (injected outage)') {
    super('BROKER_UNAVAILABLE', message, { retryable: true });
  }
}

/** mulberry32: a small, fast, seedable PRNG (deterministic fault schedules). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffleInPlace<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
