import { CancelSource, type CancelToken } from '../core/cancel.js';
import { type Clock, type TimerHandle, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { DeadlineExceededError, TimeoutError } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { Listeners, type Policy, attachApi, childContext, invoke, rejectWith } from './shared.js';

/**
 * timeout(ms): stop waiting for a call after `ms`, or sooner when the caller's deadline comes first.
 *
 * Contract:
 * - the call gets `min(ms, ctx.remaining())`; when that runs out the returned promise rejects with
 *   `TimeoutError` (this policy's limit was the earlier) or `DeadlineExceededError` (the caller's was);
 * - the callee receives a child context whose deadline is the earlier of the two and whose `cancel` token
 *   is cancelled with that same error when time runs out, so cooperative work stops and its listeners run;
 *   cancelling the caller's token cancels the child and rejects at once with the caller's reason;
 * - a context that is already past its deadline or cancelled is rejected without calling;
 * - when the call settles first, its result passes through unchanged and the child token is detached
 *   from the caller's (no listener leaks on long-lived parent tokens).
 *
 * Why it is built this way: a timer per call (`setTimeout` + `clearTimeout`) and an `AbortController` per
 * call cost more than the rest of a policy stack together. Instead each policy keeps its in-flight calls in
 * a list ordered by expiry and arms ONE clock timer for the earliest; calls with the same limit arrive in
 * expiry order, so insertion is O(1) at the tail and removal on settle is O(1). The timer is re-armed only
 * when it fires or when a call expires before it (a tight caller deadline). The child's token is our own
 * cheap `CancelToken`, and the call object itself is that token, the list node and the pending promise's
 * settle functions, so a call costs three allocations (call, context, promise) and two small closures.
 */
export interface TimeoutOptions {
  /** The policy's own limit, in ms. `Infinity` makes the policy enforce only the caller's deadline. */
  readonly ms: number;
  readonly clock?: Clock;
}

/** What `onTimeout` listeners receive. */
export interface TimeoutEvent {
  /** `TimeoutError` or `DeadlineExceededError`: the error the call was rejected and cancelled with. */
  readonly error: TimeoutError | DeadlineExceededError;
  /** True when the caller's deadline, not this policy's limit, was what ran out. */
  readonly byDeadline: boolean;
}

export interface TimeoutPolicy extends Policy {
  readonly ms: number;
  /** Calls currently being timed by this policy (across every handler it wraps). */
  readonly inFlight: number;
  /** Called each time a call runs out of time, before its promise rejects. Returns an unsubscribe function. */
  onTimeout(listener: (event: TimeoutEvent) => void): () => void;
}

export function timeout(msOrOptions: number | TimeoutOptions): TimeoutPolicy {
  const options = typeof msOrOptions === 'number' ? { ms: msOrOptions } : msOrOptions;
  if (!(options.ms >= 0)) throw new RangeError(`timeout: ms must be ≥ 0, got ${options.ms}`);
  const timer = new ExpiryList(options.ms, options.clock ?? systemClock);
  const policy = (<I, O>(next: Handler<I, O>): Handler<I, O> =>
    (input, ctx) =>
      timer.run(next, input, ctx)) as TimeoutPolicy;
  attachApi(policy, timer, ['ms', 'inFlight'], ['onTimeout']);
  return policy;
}

// A shared Promise executor: it hands the settle functions out through these two slots, so creating the
// pending promise allocates no executor closure. Read them immediately after `new Promise(capture)`.
let capturedResolve: (value: any) => void = noop;
let capturedReject: (reason: unknown) => void = noop;
function capture(resolve: (value: any) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}
function noop(): void {}
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One timed call: the callee's cancel token, a node of the expiry list, and its promise's settle functions. */
class TimedCall extends CancelSource {
  prev: TimedCall | null = null;
  next: TimedCall | null = null;
  /** Set once the returned promise is settled (by the callee or by expiry). */
  settled = false;

  constructor(
    parent: CancelToken,
    readonly list: ExpiryList,
    /** Absolute expiry, epoch ms on the policy's clock. */
    readonly at: number,
    readonly byDeadline: boolean,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {
    super(parent);
  }

  /** Runs when time runs out, or (through the link made by CancelSource) when the caller's token is cancelled. */
  override cancel(reason: unknown): void {
    super.cancel(reason);
    if (this.settled) return;
    this.settled = true;
    this.list.remove(this);
    this.reject(reason);
  }

  succeed(value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.list.remove(this);
    this.dispose();
    this.resolve(value);
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.list.remove(this);
    this.dispose();
    this.reject(this.list.ownLimitReached(this, error) ? new TimeoutError(this.list.ms, { cause: error }) : error);
  }

  expire(): void {
    const error = this.byDeadline
      ? new DeadlineExceededError(`deadline exceeded before the call completed`)
      : new TimeoutError(this.list.ms);
    this.list.timedOut(error, this.byDeadline);
    this.cancel(error);
  }
}

/** The in-flight calls of one timeout policy, earliest expiry first, and the one timer armed for the head. */
class ExpiryList {
  private head: TimedCall | null = null;
  private tail: TimedCall | null = null;
  private count = 0;
  private armedAt = Infinity;
  private handle: TimerHandle | undefined;
  private readonly listeners = new Listeners<TimeoutEvent>();

  constructor(
    readonly ms: number,
    private readonly clock: Clock,
  ) {}

  get inFlight(): number {
    return this.count;
  }

  onTimeout(listener: (event: TimeoutEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  run<I, O>(next: Handler<I, O>, input: I, ctx: Context): Promise<O> {
    const parent = ctx.cancel;
    if (parent.isCancelled) return rejectWith(parent.reason);
    const now = this.clock.now();
    const deadline = ctx.deadline;
    let at = now + this.ms;
    let byDeadline = false;
    if (deadline !== undefined && deadline <= at) {
      if (deadline <= now) return Promise.reject(new DeadlineExceededError('deadline passed before the call started'));
      at = deadline;
      byDeadline = true;
    }
    const promise = new Promise<O>(capture);
    const call = new TimedCall(parent, this, at, byDeadline, capturedResolve, capturedReject);
    this.insert(call, now);
    invoke(next, input, childContext(ctx, at === Infinity ? undefined : at, call)).then(
      (value) => call.succeed(value),
      (error: unknown) => call.fail(error),
    );
    return promise;
  }

  remove(call: TimedCall): void {
    const { prev, next } = call;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    call.prev = call.next = null;
    this.count--;
    // The timer stays armed even when the list empties: re-arming per call would cost a setTimeout each.
  }

  /**
   * A callee that enforces the deadline we gave it (an inner timeout, a transport) fails with
   * `DeadlineExceededError` at the same instant our own timer would fire. When that deadline was this
   * policy's limit rather than the caller's, the caller must still see `TimeoutError`.
   */
  ownLimitReached(call: TimedCall, error: unknown): boolean {
    return !call.byDeadline && error instanceof DeadlineExceededError && this.clock.now() >= call.at;
  }

  timedOut(error: TimeoutError | DeadlineExceededError, byDeadline: boolean): void {
    if (this.listeners.size > 0) this.listeners.emit({ error, byDeadline });
  }

  private insert(call: TimedCall, now: number): void {
    this.count++;
    const at = call.at;
    let before = this.tail;
    while (before !== null && before.at > at) before = before.prev; // usually zero steps
    if (before === null) {
      call.next = this.head;
      if (this.head !== null) this.head.prev = call;
      else this.tail = call;
      this.head = call;
    } else {
      call.prev = before;
      call.next = before.next;
      if (before.next !== null) before.next.prev = call;
      else this.tail = call;
      before.next = call;
    }
    if (at < this.armedAt) this.arm(at, now);
  }

  private arm(at: number, now: number): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.armedAt = at;
    // Clamped: Node turns a delay above 2^31-1 ms into 1 ms; firing early just re-arms for the remainder.
    this.handle = this.clock.setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, at - now)));
  }

  private readonly fire = (): void => {
    this.handle = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    // expire() removes the head; a listener may start new calls, which insert (and may arm) as usual.
    while (this.head !== null && this.head.at <= now) this.head.expire();
    if (this.head !== null && this.head.at < this.armedAt) this.arm(this.head.at, now);
  };
}
