import { type Clock, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { BrokenCircuitError, CancelledError, ValidationError } from '../core/errors.js';
import type { Handler } from '../core/middleware.js';
import { ConsecutiveFailures, type FailureCounter, SamplingWindow } from './breaker-counters.js';
import { Listeners, type Policy, attachApi, invoke } from './shared.js';
import { type RunFn, type Sink, promiseFrom, runnerOf, withRun } from './sink.js';

/**
 * circuitBreaker (alias `breaker`): stop calling a dependency that keeps failing, and test it with a
 * single call now and then until it recovers.
 *
 * States and contract:
 * - `closed`: calls pass; outcomes feed the mode's counter (`consecutive` failures, or a `sampling` window
 *   with a failure ratio over a minimum throughput); when it trips the breaker opens;
 * - `open`: calls are rejected with `BrokenCircuitError` (with `retryAfterMs` = time until the next probe)
 *   WITHOUT calling the dependency; after `halfOpenAfterMs` it becomes half-open (lazily, on the next call
 *   or read of `state`: no timer runs). A `retry` outside the breaker honours that `retryAfterMs`, within
 *   the caller's deadline; to fail fast instead, exclude it with `retryOn`;
 * - `half-open`: exactly one call at a time goes through as a probe; others are rejected. The probe's
 *   success closes the circuit; its failure opens it again for another `halfOpenAfterMs`;
 * - `isolated`: opened by hand with `isolate()`; only `reset()` closes it.
 * - `CancelledError` (the caller gave up) counts as nothing; `isFailure(error) === false` counts as a
 *   success (the dependency answered). The default `isFailure` treats every error except
 *   `ValidationError` as a failure.
 * - A breaker is one shared state: wrap as many handlers with it as should trip together.
 * - Outcomes of calls that started in an earlier closed period and finish after the breaker re-closed are
 *   counted in the new period (there is no per-call generation, to keep the hot path allocation-free).
 *
 * Hot path (closed): one state check and one reaction with two handlers created once per breaker; the
 * callee's own promise is returned, so the breaker adds no extra promise hop to the caller's await. Inside
 * another Courier policy (sink.ts) it adds no reaction at all, just a two-field sink.
 */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

export type BreakerMode =
  | { readonly kind: 'consecutive'; readonly threshold: number }
  | {
      readonly kind: 'sampling';
      readonly windowMs: number;
      /** Calls in the window before the ratio is considered. */
      readonly minThroughput: number;
      /** Failures / calls in (0, 1] at which the breaker opens. */
      readonly failureRatio: number;
    };

export interface CircuitBreakerOptions {
  /** Default `{ kind: 'consecutive', threshold: 5 }`. */
  readonly mode?: BreakerMode;
  /** How long the circuit stays open before a probe may go through. Default 10 000 ms. */
  readonly halfOpenAfterMs?: number;
  /** Which errors count as failures; false means the dependency answered (a success). */
  readonly isFailure?: (error: unknown) => boolean;
  readonly clock?: Clock;
}

export interface StateChange {
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Clock time of the change. */
  readonly at: number;
  /** The failure that opened the circuit, when it opened because of one. */
  readonly error?: unknown;
}

export interface BreakerStats {
  readonly state: CircuitState;
  /** Failures and successes counted by the mode right now. */
  readonly failures: number;
  readonly successes: number;
  /** Calls rejected without calling since the breaker was created. */
  readonly rejected: number;
}

export interface CircuitBreaker extends Policy {
  readonly state: CircuitState;
  readonly stats: BreakerStats;
  onStateChange(listener: (change: StateChange) => void): () => void;
  /** Hold the circuit open until `reset()`. */
  isolate(): void;
  /** Close the circuit and forget counted outcomes. */
  reset(): void;
}

export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const core = new BreakerCore(options);
  const policy = (<I, O>(next: Handler<I, O>): Handler<I, O> => {
    const proceed = runnerOf(next);
    return withRun<I, O>(
      (input, ctx) => {
        if (core.current === 'closed') {
          const result = invoke(next, input, ctx);
          result.then(core.closedSuccess, core.closedFailure);
          return result;
        }
        return promiseFrom<O>((sink) => core.runNotClosed(proceed, input, ctx, sink));
      },
      (input, ctx, sink) => {
        if (core.current === 'closed') proceed(input, ctx, new ClosedCallSink(core, sink));
        else core.runNotClosed(proceed, input, ctx, sink);
      },
    );
  }) as CircuitBreaker;
  attachApi(policy, core, ['state', 'stats'], ['onStateChange', 'isolate', 'reset']);
  return policy;
}

/** Short name for `circuitBreaker`. */
export const breaker = circuitBreaker;

const SUCCESS = 0;
const FAILURE = 1;
const IGNORED = 2;

class BreakerCore {
  current: CircuitState = 'closed';
  private readonly counter: FailureCounter;
  private readonly halfOpenAfterMs: number;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly clock: Clock;
  private reopenAt = 0;
  /** Id of the probe in flight (0: none); ids let a stale probe's outcome be ignored after a reset. */
  private probe = 0;
  private probeSeq = 0;
  private rejected = 0;
  private readonly changes = new Listeners<StateChange>();

  constructor(options: CircuitBreakerOptions) {
    this.clock = options.clock ?? systemClock;
    const mode = options.mode ?? { kind: 'consecutive', threshold: 5 };
    this.counter =
      mode.kind === 'consecutive'
        ? new ConsecutiveFailures(mode.threshold)
        : new SamplingWindow(mode.windowMs, mode.minThroughput, mode.failureRatio, this.clock);
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 10_000;
    if (!(this.halfOpenAfterMs >= 0)) throw new RangeError('breaker: halfOpenAfterMs must be ≥ 0');
    this.isFailure = options.isFailure ?? defaultIsFailure;
  }

  get state(): CircuitState {
    if (this.current === 'open') {
      const now = this.clock.now();
      if (now >= this.reopenAt) this.transition('half-open', now);
    }
    return this.current;
  }

  get stats(): BreakerStats {
    return {
      state: this.state,
      failures: this.counter.failures,
      successes: this.counter.successes,
      rejected: this.rejected,
    };
  }

  onStateChange(listener: (change: StateChange) => void): () => void {
    return this.changes.add(listener);
  }

  isolate(): void {
    if (this.current !== 'isolated') this.transition('isolated', this.clock.now());
  }

  reset(): void {
    if (this.current !== 'closed') this.transition('closed', this.clock.now());
    this.counter.reset();
  }

  readonly closedSuccess = (): void => {
    if (this.current === 'closed') this.counter.success();
  };

  readonly closedFailure = (error: unknown): void => {
    if (this.current !== 'closed') return;
    const kind = this.classify(error);
    if (kind === FAILURE) {
      if (this.counter.failure()) this.open(error);
    } else if (kind === SUCCESS) {
      this.counter.success();
    }
  };

  /** A call arriving while the circuit is not closed: reject it, or let it through as the probe. */
  runNotClosed<I>(proceed: RunFn<I>, input: I, ctx: Context, sink: Sink): void {
    if (this.current === 'open') {
      const now = this.clock.now();
      if (now < this.reopenAt) {
        sink.fail(this.rejection(new BrokenCircuitError('circuit is open', { retryAfterMs: this.reopenAt - now })));
        return;
      }
      this.transition('half-open', now);
    }
    if (this.current === 'half-open') {
      if (this.probe !== 0) {
        sink.fail(this.rejection(new BrokenCircuitError('circuit is half-open and its probe is in flight')));
        return;
      }
      this.probe = ++this.probeSeq;
      proceed(input, ctx, new ProbeSink(this, this.probe, sink));
      return;
    }
    sink.fail(this.rejection(new BrokenCircuitError('circuit is isolated')));
  }

  probeSettled(id: number, kind: number, error: unknown): void {
    if (this.probe !== id) return; // the breaker was reset or isolated meanwhile
    this.probe = 0;
    if (this.current !== 'half-open' || kind === IGNORED) return;
    if (kind === FAILURE) this.open(error);
    else this.transition('closed', this.clock.now());
  }

  private open(error: unknown): void {
    const now = this.clock.now();
    this.reopenAt = now + this.halfOpenAfterMs;
    this.transition('open', now, error);
  }

  private transition(to: CircuitState, at: number, error?: unknown): void {
    const from = this.current;
    this.current = to;
    this.probe = 0;
    if (to === 'closed') this.counter.reset();
    if (this.changes.size > 0) {
      this.changes.emit(error === undefined ? { from, to, at } : { from, to, at, error });
    }
  }

  classify(error: unknown): number {
    if (error instanceof CancelledError) return IGNORED;
    try {
      return this.isFailure(error) ? FAILURE : SUCCESS;
    } catch {
      return FAILURE; // a throwing predicate must not break the state machine
    }
  }

  private rejection(error: BrokenCircuitError): BrokenCircuitError {
    this.rejected++;
    return error;
  }
}

function defaultIsFailure(error: unknown): boolean {
  return !(error instanceof ValidationError);
}

/** The outcome of a call made while closed: counted, then passed up unchanged. */
class ClosedCallSink implements Sink {
  constructor(
    private readonly core: BreakerCore,
    private readonly upstream: Sink,
  ) {}

  succeed(value: unknown): void {
    this.core.closedSuccess();
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    this.core.closedFailure(error);
    this.upstream.fail(error);
  }
}

/** The outcome of the half-open probe: it closes or re-opens the circuit, then passes up unchanged. */
class ProbeSink implements Sink {
  constructor(
    private readonly core: BreakerCore,
    private readonly id: number,
    private readonly upstream: Sink,
  ) {}

  succeed(value: unknown): void {
    this.core.probeSettled(this.id, SUCCESS, undefined);
    this.upstream.succeed(value);
  }

  fail(error: unknown): void {
    this.core.probeSettled(this.id, this.core.classify(error), error);
    this.upstream.fail(error);
  }
}
