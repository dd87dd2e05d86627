/**
 * Courier's typed errors. Every error Courier raises is a `CourierError` with a stable `code`, so that a
 * transport can carry it across a hop (problem+json, gRPC status, a DLQ record) and the far side can rebuild
 * the same class. `retryable` is the error's own opinion on whether trying again can help; the retry
 * policy honours it.
 */
export interface CourierErrorOptions {
  cause?: unknown;
  /** Whether another attempt could succeed. Defaults per class. */
  retryable?: boolean;
  /** How long the callee asked the caller to wait before retrying (from Retry-After), in ms. */
  retryAfterMs?: number;
  /** Structured detail that travels with the error. */
  details?: Record<string, unknown>;
}

export class CourierError extends Error {
  /** Stable machine-readable code, e.g. `TIMEOUT`. Never changes for a class. */
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: CourierErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** An operation ran past its own time limit (the timeout policy's, not the caller's deadline). */
export class TimeoutError extends CourierError {
  constructor(readonly timeoutMs: number, options: CourierErrorOptions = {}) {
    super('TIMEOUT', `operation timed out after ${timeoutMs} ms`, { retryable: true, ...options });
  }
}

/** The caller's deadline passed: nobody is waiting for the answer any more, so retrying is pointless. */
export class DeadlineExceededError extends CourierError {
  constructor(message = 'deadline exceeded', options: CourierErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', message, { retryable: false, ...options });
  }
}

/** The work was cancelled by the caller (not by a deadline). */
export class CancelledError extends CourierError {
  constructor(message = 'cancelled', options: CourierErrorOptions = {}) {
    super('CANCELLED', message, { retryable: false, ...options });
  }
}

/** The circuit breaker is open (or half-open with its probe in flight) and rejected without calling. */
export class BrokenCircuitError extends CourierError {
  constructor(message = 'circuit is open', options: CourierErrorOptions = {}) {
    super('BROKEN_CIRCUIT', message, { retryable: true, ...options });
  }
}

/** The bulkhead's concurrency and queue are both full. */
export class BulkheadRejectedError extends CourierError {
  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    options: CourierErrorOptions = {},
  ) {
    super('BULKHEAD_REJECTED', `bulkhead full (${maxConcurrent} running, ${maxQueue} queued)`, {
      retryable: true,
      ...options,
    });
  }
}

/** The retry budget has no tokens left: retrying now would amplify an outage. Carries the last error. */
export class RetryBudgetExhaustedError extends CourierError {
  constructor(cause: unknown, options: CourierErrorOptions = {}) {
    super('RETRY_BUDGET_EXHAUSTED', 'retry budget exhausted', { retryable: false, cause, ...options });
  }
}

/** A rate limiter refused the call; `retryAfterMs` says when a token will be available. */
export class RateLimitedError extends CourierError {
  constructor(retryAfterMs: number, options: CourierErrorOptions = {}) {
    super('RATE_LIMITED', `rate limited; retry after ${retryAfterMs} ms`, {
      retryable: true,
      retryAfterMs,
      ...options,
    });
  }
}

/** One problem found by validation, with the path to the failing value (e.g. `["items", 2, "qty"]`). */
export interface ValidationIssue {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
}

/** Input or output did not match its schema. `issues[0].path` names the first failing value. */
export class ValidationError extends CourierError {
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], what = 'value', options: CourierErrorOptions = {}) {
    const first = issues[0];
    const where = first && first.path.length > 0 ? ` at ${formatPath(first.path)}` : '';
    super('VALIDATION_FAILED', `invalid ${what}${where}: ${first?.message ?? 'does not match schema'}`, {
      retryable: false,
      ...options,
    });
    this.issues = issues;
  }

  /** The path of the first failing value. */
  get path(): ReadonlyArray<string | number> {
    return this.issues[0]?.path ?? [];
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** A message envelope (headers) is malformed; `field` names the offending attribute. */
export class EnvelopeError extends CourierError {
  constructor(
    readonly field: string,
    message: string,
    options: CourierErrorOptions = {},
  ) {
    super('INVALID_ENVELOPE', `invalid envelope field "${field}": ${message}`, {
      retryable: false,
      ...options,
      details: { field, ...options.details },
    });
  }
}

/** Render a path as `a.b[2].c`. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** True when `error` says another attempt cannot help. Unknown errors are assumed transient. */
export function isNonRetryable(error: unknown): boolean {
  return error instanceof CourierError ? !error.retryable : false;
}

/** A message body is larger than the broker or transport accepts. */
export class MessageTooLargeError extends CourierError {
  constructor(
    readonly sizeBytes: number,
    readonly maxBytes: number,
    options: CourierErrorOptions = {},
  ) {
    super('MESSAGE_TOO_LARGE', `message of ${sizeBytes} bytes exceeds the limit of ${maxBytes} bytes`, {
      retryable: false,
      ...options,
    });
  }
}

/** The broker, transport or subscription was closed; the operation was not performed. */
export class ClosedError extends CourierError {
  constructor(what: string, options: CourierErrorOptions = {}) {
    super('CLOSED', `${what} is closed`, { retryable: false, ...options });
  }
}
