import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CancelledError,
  ClosedError,
  CourierError,
  type CourierErrorOptions,
  DeadlineExceededError,
  EnvelopeError,
  MessageTooLargeError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from '../core/errors.js';
import { IdempotencyConflictError, IdempotencyKeyReusedError } from '../reliability/idempotency/errors.js';
import {
  BadRequestError,
  type BadRequestReason,
  BadResponseError,
  HeadersTooLargeError,
  InternalError,
  NotFoundError,
  RequestTimeoutError,
  UnavailableError,
  UnsupportedMediaTypeError,
} from './errors.js';

/**
 * How a Courier error crosses a synchronous hop and comes back as the same class.
 *
 * The server turns any thrown value into a `WireError` (code, message, retryable, details, issues, and the
 * class's constructor fields that `toJSON` does not carry, like a timeout's `timeoutMs`); the transport
 * writes it in its own format (HTTP: RFC 9457 problem+json with a status from this table). The client
 * looks the code up here and rebuilds the class, with the server's message and `retryable`, so `instanceof
 * TimeoutError` and `retry`'s non-retryable check work across the wire.
 *
 * The table lives in the transport layer, not the core: the core knows errors, not wires. Applications
 * register their own codes with `registerErrorType` on both sides; an unregistered code arrives as a plain
 * `CourierError` with that code, and is sent with status 500.
 *
 * A non-Courier error (a bug in a handler) is sent as `InternalError` with a generic message, so internals
 * do not leak, unless the server opts into `exposeErrors` (development).
 */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number | undefined;
  readonly details?: Record<string, unknown> | undefined;
  readonly issues?: readonly ValidationIssue[] | undefined;
  /** Constructor arguments of the class that its `toJSON` does not carry. */
  readonly fields?: Record<string, unknown> | undefined;
}

export interface ErrorType<E extends CourierError = CourierError> {
  readonly code: string;
  /** HTTP status the error is sent with. */
  readonly status: number;
  /** Rebuild the error on the receiving side. `options` holds retryable, retryAfterMs and details. */
  readonly create: (wire: WireError, options: CourierErrorOptions) => E;
  /** Constructor fields to send beside the JSON form. */
  readonly fields?: (error: E) => Record<string, unknown>;
}

const types = new Map<string, ErrorType<any>>();

/** Add or replace the wire mapping for an error code. Register the same types on server and client. */
export function registerErrorType<E extends CourierError>(type: ErrorType<E>): void {
  types.set(type.code, type);
}

export function errorTypeOf(code: string): ErrorType | undefined {
  return types.get(code);
}

/** HTTP status for an error; 500 for anything unregistered. */
export function httpStatusOf(error: unknown): number {
  return error instanceof CourierError ? (types.get(error.code)?.status ?? 500) : 500;
}

/** The code an HTTP status stands for when a response carries no Courier problem document (a proxy's page). */
export function errorForBareStatus(status: number, text: string): CourierError {
  const message = `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (status === 502 || status === 503) return new UnavailableError(message);
  if (status === 504) return new UnavailableError(message, { retryable: true });
  if (status === 404) return new NotFoundError(message);
  if (status === 413) return new MessageTooLargeError(0, 0, { details: { status } });
  if (status === 431) return new HeadersTooLargeError(message);
  if (status === 429) return new RateLimitedError(0);
  return new BadResponseError(message, { details: { status } });
}

export interface ToWireOptions {
  /** Send a non-Courier error's own message (development); default: a generic one. */
  readonly exposeErrors?: boolean;
}

/**
 * A wire error as JSON. Details or fields JSON cannot encode (a BigInt, a cycle: the thrower's bug) are left
 * out rather than failing the answer, so the caller still gets the code and message and is not left waiting.
 */
export function wireErrorJson(wire: WireError): string {
  try {
    return JSON.stringify(wire);
  } catch {
    return JSON.stringify({ ...wire, details: undefined, fields: undefined });
  }
}

/** The wire form of any thrown value. */
export function toWireError(error: unknown, options: ToWireOptions = {}): WireError {
  const e =
    error instanceof CourierError
      ? error
      : new InternalError(options.exposeErrors && error instanceof Error ? error.message : 'internal error');
  const type = types.get(e.code);
  return {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    retryAfterMs: e.retryAfterMs,
    details: e.details,
    issues: e instanceof ValidationError ? e.issues : undefined,
    fields: type?.fields?.(e),
  };
}

/**
 * Rebuild an error from its wire form. `wire` comes from another process, so it is checked: a value that
 * is not a wire error becomes `BadResponseError`.
 */
export function fromWireError(wire: unknown): CourierError {
  if (!isWireError(wire)) return new BadResponseError('error response without a Courier error code');
  const options: CourierErrorOptions = {
    retryable: wire.retryable,
    ...(wire.retryAfterMs === undefined ? {} : { retryAfterMs: wire.retryAfterMs }),
    ...(wire.details === undefined ? {} : { details: wire.details }),
  };
  const type = types.get(wire.code);
  const error = type ? type.create(wire, options) : new CourierError(wire.code, wire.message, options);
  error.message = wire.message;
  return error;
}

function isWireError(value: unknown): value is WireError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['code'] === 'string' &&
    typeof v['message'] === 'string' &&
    typeof v['retryable'] === 'boolean' &&
    (v['retryAfterMs'] === undefined || typeof v['retryAfterMs'] === 'number') &&
    (v['details'] === undefined || isPlainObject(v['details'])) &&
    (v['fields'] === undefined || isPlainObject(v['fields'])) &&
    (v['issues'] === undefined || Array.isArray(v['issues']))
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const num = (value: unknown, fallback = 0): number => (typeof value === 'number' ? value : fallback);
const str = (value: unknown, fallback = ''): string => (typeof value === 'string' ? value : fallback);

function issuesOf(wire: WireError): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of wire.issues ?? []) {
    if (typeof issue !== 'object' || issue === null) continue;
    const path = Array.isArray(issue.path)
      ? issue.path.filter((p): p is string | number => typeof p === 'string' || typeof p === 'number')
      : [];
    out.push({ path, message: str(issue.message, 'invalid') });
  }
  return out;
}

// The built-in table: every code Courier itself raises.
const builtIn: ErrorType<any>[] = [
  { code: 'VALIDATION_FAILED', status: 400, create: (w, o) => new ValidationError(issuesOf(w), 'value', o) },
  {
    code: 'BAD_REQUEST',
    status: 400,
    create: (w, o) => new BadRequestError(str(w.details?.['reason'], 'malformed-body') as BadRequestReason, w.message, o),
  },
  {
    code: 'INVALID_ENVELOPE',
    status: 400,
    create: (w, o) => new EnvelopeError(str(w.details?.['field'], 'headers'), w.message, o),
  },
  { code: 'NOT_FOUND', status: 404, create: (w, o) => new NotFoundError(w.message, o) },
  { code: 'REQUEST_TIMEOUT', status: 408, create: (w, o) => new RequestTimeoutError(w.message, o) },
  {
    code: 'IDEMPOTENCY_IN_PROGRESS',
    status: 409,
    create: (w, o) => new IdempotencyConflictError(str(w.details?.['key']), o),
  },
  {
    code: 'MESSAGE_TOO_LARGE',
    status: 413,
    create: (w, o) => new MessageTooLargeError(num(w.fields?.['sizeBytes']), num(w.fields?.['maxBytes']), o),
    fields: (e: MessageTooLargeError) => ({ sizeBytes: e.sizeBytes, maxBytes: e.maxBytes }),
  },
  { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, create: (w, o) => new UnsupportedMediaTypeError(w.message, o) },
  {
    code: 'IDEMPOTENCY_KEY_REUSED',
    status: 422,
    create: (w, o) => new IdempotencyKeyReusedError(str(w.details?.['key']), o),
  },
  { code: 'RATE_LIMITED', status: 429, create: (w, o) => new RateLimitedError(num(w.retryAfterMs), o) },
  { code: 'HEADERS_TOO_LARGE', status: 431, create: (w, o) => new HeadersTooLargeError(w.message, o) },
  // 499 is nginx's "client closed request": nobody reads it, but logs and tests can.
  { code: 'CANCELLED', status: 499, create: (w, o) => new CancelledError(w.message, o) },
  { code: 'INTERNAL', status: 500, create: (w, o) => new InternalError(w.message, o) },
  { code: 'BAD_RESPONSE', status: 502, create: (w, o) => new BadResponseError(w.message, o) },
  { code: 'UNAVAILABLE', status: 503, create: (w, o) => new UnavailableError(w.message, o) },
  { code: 'CLOSED', status: 503, create: (w, o) => new ClosedError(str(w.fields?.['what'], 'service'), o) },
  { code: 'BROKEN_CIRCUIT', status: 503, create: (w, o) => new BrokenCircuitError(w.message, o) },
  {
    code: 'BULKHEAD_REJECTED',
    status: 503,
    create: (w, o) => new BulkheadRejectedError(num(w.fields?.['maxConcurrent']), num(w.fields?.['maxQueue']), o),
    fields: (e: BulkheadRejectedError) => ({ maxConcurrent: e.maxConcurrent, maxQueue: e.maxQueue }),
  },
  {
    code: 'RETRY_BUDGET_EXHAUSTED',
    status: 503,
    create: (_w, o) => new RetryBudgetExhaustedError(undefined, o),
  },
  {
    code: 'TIMEOUT',
    status: 504,
    create: (w, o) => new TimeoutError(num(w.fields?.['timeoutMs']), o),
    fields: (e: TimeoutError) => ({ timeoutMs: e.timeoutMs }),
  },
  { code: 'DEADLINE_EXCEEDED', status: 504, create: (w, o) => new DeadlineExceededError(w.message, o) },
];
for (const type of builtIn) registerErrorType(type);
