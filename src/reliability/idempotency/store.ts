/**
 * Where idempotency keys and the responses they produced are kept.
 *
 * A key goes through two states: **in flight** (claimed by one request, with a lease) and **done** (the
 * stored outcome, kept until it expires). The store is the arbiter between concurrent requests with the same
 * key, possibly in different processes, so `begin` must be atomic: of two simultaneous `begin`s for a fresh
 * key exactly one is `claimed`.
 *
 * Time is passed in (`now`, epoch ms from the caller's clock) rather than read by the store, so that one
 * store behaves the same under a test's fake clock and the system clock, and the conformance suite can check
 * expiry without sleeping.
 *
 * Contract (checked by `runIdempotencyStoreConformance`):
 * - `begin` on a key that is absent, whose record has expired, or whose lease has lapsed claims it and
 *   returns a fresh `token`; otherwise it reports the key as `in-flight` (with the claim's fingerprint and
 *   lease end) or `done` (with the record). It never changes a live claim or a live record.
 * - `complete(key, token, …)` turns the caller's claim into a record; `release(key, token)` deletes the
 *   claim. Both do nothing when `token` no longer owns the key (the lease lapsed and another request claimed
 *   it): a slow request cannot overwrite a newer one. `complete` returns whether it stored.
 * - `purgeExpired(now)` deletes records and lapsed claims whose time is up and returns how many.
 */
export interface IdempotencyRecord {
  /** Fingerprint of the payload that produced this outcome. */
  readonly fingerprint: string;
  /** `ok`: `body` is the output as JSON. `error`: `body` is the wire error as JSON. */
  readonly outcome: 'ok' | 'error';
  readonly body: string;
  /** Epoch ms when the outcome was stored. */
  readonly createdAt: number;
  /** Epoch ms after which the record is gone. */
  readonly expiresAt: number;
}

export type BeginResult =
  | { readonly state: 'claimed'; readonly token: string }
  | { readonly state: 'in-flight'; readonly fingerprint: string; readonly leaseUntil: number }
  | { readonly state: 'done'; readonly record: IdempotencyRecord };

export interface IdempotencyStore {
  /** Claim `key` for a request with payload `fingerprint`, holding it until `leaseUntil` unless completed. */
  begin(key: string, fingerprint: string, now: number, leaseUntil: number): Promise<BeginResult>;
  /** Store the outcome of the claim `token` holds; false if the claim was lost. */
  complete(key: string, token: string, record: IdempotencyRecord): Promise<boolean>;
  /** Give up the claim `token` holds (the request failed in a way worth retrying). */
  release(key: string, token: string): Promise<void>;
  /** The state of `key` at `now`, without claiming it. */
  peek(key: string, now: number): Promise<Exclude<BeginResult, { state: 'claimed' }> | undefined>;
  /** Delete what has expired at `now`; returns the number of keys removed. */
  purgeExpired(now: number): Promise<number>;
  close(): Promise<void>;
}
