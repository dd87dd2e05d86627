import { ClosedError } from '../../core/errors.js';
import { randomHex } from '../../core/ids.js';
import type { BeginResult, IdempotencyRecord, IdempotencyStore } from './store.js';

/**
 * An `IdempotencyStore` in a `Map`: for tests, the in-process transport, and single-process services that
 * accept losing their keys on restart. `begin` is atomic because it runs synchronously on one thread.
 *
 * Memory is bounded by time, not count: expired entries are swept every `sweepEvery` calls to `begin`
 * (and by `purgeExpired`), so a steady request rate keeps a steady map size of about rate × TTL.
 */
export interface MemoryIdempotencyStoreOptions {
  /** Sweep expired entries every this many `begin` calls. Default 1000. */
  readonly sweepEvery?: number;
}

type Entry =
  | { readonly kind: 'claim'; readonly token: string; readonly fingerprint: string; readonly leaseUntil: number }
  | { readonly kind: 'record'; readonly record: IdempotencyRecord };

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweepEvery: number;
  private untilSweep: number;
  private closed = false;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.sweepEvery = options.sweepEvery ?? 1000;
    this.untilSweep = this.sweepEvery;
  }

  /** Keys currently held (claims and records, expired or not until swept). */
  get size(): number {
    return this.entries.size;
  }

  async begin(key: string, fingerprint: string, now: number, leaseUntil: number): Promise<BeginResult> {
    this.checkOpen();
    if (--this.untilSweep <= 0) {
      this.untilSweep = this.sweepEvery;
      this.sweep(now);
    }
    const live = this.live(key, now);
    if (live?.kind === 'record') return { state: 'done', record: live.record };
    if (live?.kind === 'claim') return { state: 'in-flight', fingerprint: live.fingerprint, leaseUntil: live.leaseUntil };
    const token = randomHex(12);
    this.entries.set(key, { kind: 'claim', token, fingerprint, leaseUntil });
    return { state: 'claimed', token };
  }

  async complete(key: string, token: string, record: IdempotencyRecord): Promise<boolean> {
    this.checkOpen();
    const entry = this.entries.get(key);
    if (entry?.kind !== 'claim' || entry.token !== token) return false;
    this.entries.set(key, { kind: 'record', record });
    return true;
  }

  async release(key: string, token: string): Promise<void> {
    this.checkOpen();
    const entry = this.entries.get(key);
    if (entry?.kind === 'claim' && entry.token === token) this.entries.delete(key);
  }

  async peek(key: string, now: number): Promise<Exclude<BeginResult, { state: 'claimed' }> | undefined> {
    this.checkOpen();
    const live = this.live(key, now);
    if (live === undefined) return undefined;
    return live.kind === 'record'
      ? { state: 'done', record: live.record }
      : { state: 'in-flight', fingerprint: live.fingerprint, leaseUntil: live.leaseUntil };
  }

  async purgeExpired(now: number): Promise<number> {
    this.checkOpen();
    return this.sweep(now);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
  }

  /** The entry for `key` if it has not expired at `now`. */
  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || isExpired(entry, now)) return undefined;
    return entry;
  }

  private sweep(now: number): number {
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (isExpired(entry, now)) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('idempotency store');
  }
}

function isExpired(entry: Entry, now: number): boolean {
  return entry.kind === 'claim' ? entry.leaseUntil <= now : entry.record.expiresAt <= now;
}
