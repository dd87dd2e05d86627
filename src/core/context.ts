import { CancelSource, CancelToken } from './cancel.js';
import { type Clock, systemClock } from './clock.js';
import { DeadlineExceededError } from './errors.js';

/**
 * The context every handler, call and message consumer receives. It carries what must survive a hop:
 * the deadline (absolute, epoch ms), cancellation, correlation and causation ids, the W3C trace context,
 * the delivery attempt and an idempotency key. Transports and brokers serialise it into headers and
 * rebuild it on the far side.
 *
 * A context is immutable: `with…` methods return a child. Creating one is a single small allocation, so
 * policies can afford one per call.
 */
export interface ContextFields {
  /** Absolute deadline in epoch ms; undefined means "no deadline". */
  readonly deadline?: number | undefined;
  readonly cancel?: CancelToken;
  readonly correlationId?: string | undefined;
  readonly causationId?: string | undefined;
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
  /** 1 for the first delivery or attempt. */
  readonly attempt?: number;
  readonly idempotencyKey?: string | undefined;
  /** The operation being run, e.g. `inventory.reserve`; set by clients, servers and consumers. */
  readonly operation?: string | undefined;
  /** Free-form string metadata that travels with the call (e.g. tenant, auth subject). */
  readonly metadata?: Readonly<Record<string, string>>;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export class Context implements ContextFields {
  readonly deadline: number | undefined;
  readonly cancel: CancelToken;
  readonly correlationId: string | undefined;
  readonly causationId: string | undefined;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly attempt: number;
  readonly idempotencyKey: string | undefined;
  readonly operation: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(fields: ContextFields = {}) {
    this.deadline = fields.deadline;
    this.cancel = fields.cancel ?? CancelToken.never;
    this.correlationId = fields.correlationId;
    this.causationId = fields.causationId;
    this.traceparent = fields.traceparent;
    this.tracestate = fields.tracestate;
    this.attempt = fields.attempt ?? 1;
    this.idempotencyKey = fields.idempotencyKey;
    this.operation = fields.operation;
    this.metadata = fields.metadata ?? EMPTY;
  }

  /** The root context: no deadline, never cancelled. */
  static readonly background: Context = new Context();

  /** A child with some fields replaced. */
  with(fields: ContextFields): Context {
    return new Context({ ...this, ...fields });
  }

  /** A child whose deadline is the earlier of this one's and `now + ms`. */
  withTimeout(ms: number, clock: Clock = systemClock): Context {
    return this.withDeadline(clock.now() + ms);
  }

  /**
   * A child whose deadline is the earlier of this one's and `deadline`: a callee can never extend its caller's.
   * NaN (e.g. a timeout read from a missing setting) throws `RangeError`: it would otherwise compare false
   * with every time and silently switch the deadline off.
   */
  withDeadline(deadline: number): Context {
    if (Number.isNaN(deadline)) throw new RangeError('deadline is NaN');
    if (this.deadline !== undefined && this.deadline <= deadline) return this;
    return this.with({ deadline });
  }

  /** A child with its own cancel source linked to this context's token. Dispose the source when done. */
  withCancel(): { ctx: Context; source: CancelSource } {
    const source = new CancelSource(this.cancel);
    return { ctx: this.with({ cancel: source }), source };
  }

  /** Milliseconds left before the deadline (may be ≤ 0), or Infinity without one. */
  remaining(clock: Clock = systemClock): number {
    return this.deadline === undefined ? Infinity : this.deadline - clock.now();
  }

  /** True when the deadline has passed or the context was cancelled. */
  isDone(clock: Clock = systemClock): boolean {
    return this.cancel.isCancelled || (this.deadline !== undefined && this.deadline <= clock.now());
  }

  /**
   * Throws if work should not start: the cancellation reason, or `DeadlineExceededError` when the
   * deadline has passed. Servers call this before running a handler.
   */
  throwIfDone(clock: Clock = systemClock): void {
    this.cancel.throwIfCancelled();
    if (this.deadline !== undefined && this.deadline <= clock.now()) {
      throw new DeadlineExceededError('deadline passed before work started');
    }
  }

  /** An AbortSignal for APIs that need one (created lazily; costs ~4 µs the first time). */
  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}
