import { type Clock, systemClock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import { CourierError, DeadlineExceededError } from '../../core/errors.js';
import { BadRequestError } from '../../sync/errors.js';
import { fromWireError, toWireError } from '../../sync/error-registry.js';
import { IdempotencyConflictError, IdempotencyKeyReusedError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import type { BeginResult, IdempotencyStore } from './store.js';

/**
 * Server-side idempotency keys (draft-ietf-httpapi-idempotency-key-header), transport-independent: the HTTP
 * and in-process transports both run commands that carry a key through `IdempotencyGuard.execute`.
 *
 * Contract, for one `(operation, key)`:
 * - the first request claims the key, runs, and its outcome is stored for `ttlMs`: the output, or a
 *   non-retryable Courier error (a deterministic refusal). A retryable error, a cancelled or timed-out
 *   request, or a non-Courier error (a bug) is not an answer worth replaying: the claim is released and a
 *   retry runs the command again.
 * - a later request with the same key and the same payload (same canonical-JSON fingerprint of the
 *   validated input) does not run: it receives the stored output as a `Replay` (the transport marks the
 *   response as replayed) or the stored error, rethrown and marked (`wasReplayed`).
 * - the same key with a different payload is refused with `IdempotencyKeyReusedError` (422).
 * - a request that arrives while the first is still running waits for it, at most `waitMs` and never past
 *   its own deadline, then gets the first one's outcome; if the first is still running it is refused with
 *   `IdempotencyConflictError` (409, retryable), or `DeadlineExceededError` when its own deadline is what
 *   ended the wait. A first request in this process is awaited directly; one in
 *   another process sharing the store is polled every `pollMs`.
 * - a claim lasts `leaseMs` (or until the request's deadline, if later): if its process dies, the key
 *   becomes claimable again after that.
 */
export interface IdempotencyOptions {
  readonly store: IdempotencyStore;
  /** How long a stored outcome is replayed, ms. Default 24 h. */
  readonly ttlMs?: number;
  /** How long a claim holds without completing, ms. Default 60 s. Keep it above your slowest command. */
  readonly leaseMs?: number;
  /** How long a duplicate waits for the first request, ms. Default 10 s; 0 refuses duplicates at once. */
  readonly waitMs?: number;
  /** How often a duplicate re-reads a key held by another process, ms. Default 50. */
  readonly pollMs?: number;
  /** Longest key accepted. Default 255. */
  readonly maxKeyLength?: number;
  readonly clock?: Clock;
  /** Called when the store fails to save or release (the request itself still gets its answer). */
  readonly onStoreError?: (error: unknown) => void;
}

/** A stored output, as JSON text, returned instead of running the command again. */
export class Replay {
  constructor(readonly json: string) {}
}

const replayedErrors = new WeakSet<object>();

/** True when `error` is a stored outcome replayed for a retry, not a fresh failure. */
export function wasReplayed(error: unknown): boolean {
  return typeof error === 'object' && error !== null && replayedErrors.has(error);
}

export class IdempotencyGuard {
  private readonly store: IdempotencyStore;
  private readonly ttlMs: number;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly pollMs: number;
  private readonly maxKeyLength: number;
  private readonly clock: Clock;
  private readonly onStoreError: (error: unknown) => void;
  /** Keys this process is running now, and a promise that settles when each is done. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(options: IdempotencyOptions) {
    this.store = options.store;
    this.ttlMs = options.ttlMs ?? 24 * 3600_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.waitMs = options.waitMs ?? 10_000;
    this.pollMs = options.pollMs ?? 50;
    this.maxKeyLength = options.maxKeyLength ?? 255;
    this.clock = options.clock ?? systemClock;
    this.onStoreError = options.onStoreError ?? (() => {});
  }

  /**
   * Run `run` at most once per `(scope, key)` and payload; see the module contract. `input` is the validated
   * input (its fingerprint identifies the request); `scope` is the operation's full name.
   */
  async execute(scope: string, key: string, input: unknown, ctx: Context, run: () => Promise<unknown>): Promise<unknown> {
    this.checkKey(key);
    const storeKey = `${scope} ${key}`;
    const print = fingerprint(input);
    const waitUntil = Math.min(this.clock.now() + this.waitMs, ctx.deadline ?? Infinity);
    for (;;) {
      const now = this.clock.now();
      const leaseUntil = Math.max(now + this.leaseMs, ctx.deadline ?? 0);
      const state: BeginResult = await this.store.begin(storeKey, print, now, leaseUntil);
      if (state.state === 'claimed') return this.runClaimed(storeKey, state.token, print, run);
      const storedPrint = state.state === 'done' ? state.record.fingerprint : state.fingerprint;
      if (storedPrint !== print) throw new IdempotencyKeyReusedError(key);
      if (state.state === 'done') return replay(state.record.outcome, state.record.body);
      const left = waitUntil - now;
      if (left <= 0) {
        // The wait ended at this request's own deadline: nobody is waiting for an answer any more, so say
        // that (not 409 "retry later", which a caller whose deadline has passed cannot act on).
        if (ctx.deadline !== undefined && ctx.deadline <= now) {
          throw new DeadlineExceededError('deadline passed while the request with the same idempotency key was in flight');
        }
        throw new IdempotencyConflictError(key, { retryAfterMs: Math.max(1, Math.min(state.leaseUntil - now, 1000)) });
      }
      await this.waitForOther(storeKey, left, ctx);
    }
  }

  private async runClaimed(storeKey: string, token: string, print: string, run: () => Promise<unknown>): Promise<unknown> {
    let done!: () => void;
    this.running.set(storeKey, new Promise<void>((resolve) => (done = resolve)));
    try {
      const output = await run();
      await this.save(storeKey, token, print, 'ok', JSON.stringify(output) ?? 'null');
      return output;
    } catch (error) {
      if (isAnswer(error)) await this.save(storeKey, token, print, 'error', wireJson(error));
      else await this.release(storeKey, token);
      throw error;
    } finally {
      this.running.delete(storeKey);
      done();
    }
  }

  private async save(storeKey: string, token: string, print: string, outcome: 'ok' | 'error', body: string): Promise<void> {
    const now = this.clock.now();
    try {
      await this.store.complete(storeKey, token, { fingerprint: print, outcome, body, createdAt: now, expiresAt: now + this.ttlMs });
    } catch (error) {
      this.onStoreError(error);
      await this.release(storeKey, token);
    }
  }

  private async release(storeKey: string, token: string): Promise<void> {
    try {
      await this.store.release(storeKey, token);
    } catch (error) {
      this.onStoreError(error);
    }
  }

  /** Wait until the other request with this key may have finished: its promise here, or one poll interval. */
  private waitForOther(storeKey: string, maxMs: number, ctx: Context): Promise<void> {
    const local = this.running.get(storeKey);
    const ms = local === undefined ? Math.min(this.pollMs, maxMs) : maxMs;
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (error?: unknown): void => {
        if (finished) return;
        finished = true;
        this.clock.clearTimeout(timer);
        unsubscribe();
        if (error === undefined) resolve();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caller's cancel reason, passed on unchanged
        else reject(error);
      };
      const timer = this.clock.setTimeout(() => finish(), ms);
      const unsubscribe = ctx.cancel.onCancel((reason) => finish(reason ?? new Error('cancelled')));
      local?.then(() => finish(), () => finish());
    });
  }

  private checkKey(key: string): void {
    if (key.length === 0 || key.length > this.maxKeyLength || !isVisibleAscii(key)) {
      throw new BadRequestError(
        'invalid-idempotency-key',
        `idempotency key must be 1–${this.maxKeyLength} visible ASCII characters`,
      );
    }
  }
}

/** Whether an error is a deterministic outcome that a retry would get again (and so is stored). */
function isAnswer(error: unknown): boolean {
  return error instanceof CourierError && !error.retryable && error.code !== 'CANCELLED' && error.code !== 'DEADLINE_EXCEEDED';
}

/** The stored form of an error; details or fields JSON cannot encode (a BigInt, a cycle) are left out. */
function wireJson(error: unknown): string {
  const wire = toWireError(error);
  try {
    return JSON.stringify(wire);
  } catch {
    return JSON.stringify({ ...wire, details: undefined, fields: undefined });
  }
}

function replay(outcome: 'ok' | 'error', body: string): Replay {
  if (outcome === 'ok') return new Replay(body);
  const error = fromWireError(JSON.parse(body));
  replayedErrors.add(error);
  throw error;
}

function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
