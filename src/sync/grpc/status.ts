import { CancelledError, CourierError, DeadlineExceededError, MessageTooLargeError } from '../../core/errors.js';
import { errorTypeOf, fromWireError, toWireError, type WireError, wireErrorJson } from '../error-registry.js';
import { BadRequestError, BadResponseError, InternalError, NotFoundError, UnavailableError } from '../errors.js';

/**
 * Courier errors on the gRPC wire, both ways.
 *
 * A failed call ends with trailers (or a trailers-only response) carrying
 * - `grpc-status`: the standard status code, from `grpcStatusOf` (Courier's table below; an application's
 *   own registered code falls back to its registered HTTP status, mapped as gRPC's HTTP-to-gRPC table does);
 * - `grpc-message`: the human message, percent-encoded as the gRPC spec asks (so any client can show it);
 * - `courier-error-bin`: the Courier `WireError` as JSON (binary metadata: base64 on the wire, a Buffer in
 *   grpc-js, bytes in grpcio), so a Courier client rebuilds the same registered class with its code,
 *   `retryable`, details and constructor fields. Foreign clients ignore it.
 *
 * A status without the Courier trailer (a foreign server, a proxy, the transport itself) is mapped by code
 * (`errorOfStatus`) to the nearest Courier class, keeping the gRPC status in `details.grpcStatus`.
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const NAMES: readonly string[] = Object.keys(GrpcStatus);

export const ERROR_TRAILER = 'courier-error-bin';

/** Courier codes whose gRPC status is not what their HTTP status would give. */
const BY_CODE: Readonly<Record<string, GrpcStatusCode>> = {
  VALIDATION_FAILED: GrpcStatus.INVALID_ARGUMENT,
  BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  INVALID_ENVELOPE: GrpcStatus.INVALID_ARGUMENT,
  UNSUPPORTED_MEDIA_TYPE: GrpcStatus.INVALID_ARGUMENT,
  // Courier's NOT_FOUND means "no such operation": the gRPC name for that is UNIMPLEMENTED.
  NOT_FOUND: GrpcStatus.UNIMPLEMENTED,
  REQUEST_TIMEOUT: GrpcStatus.UNAVAILABLE,
  IDEMPOTENCY_IN_PROGRESS: GrpcStatus.ABORTED,
  IDEMPOTENCY_KEY_REUSED: GrpcStatus.FAILED_PRECONDITION,
  MESSAGE_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  RATE_LIMITED: GrpcStatus.RESOURCE_EXHAUSTED,
  HEADERS_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  BULKHEAD_REJECTED: GrpcStatus.RESOURCE_EXHAUSTED,
  RETRY_BUDGET_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  CANCELLED: GrpcStatus.CANCELLED,
  INTERNAL: GrpcStatus.INTERNAL,
  BAD_RESPONSE: GrpcStatus.INTERNAL,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  CLOSED: GrpcStatus.UNAVAILABLE,
  BROKEN_CIRCUIT: GrpcStatus.UNAVAILABLE,
  TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
};

/** gRPC's own HTTP → gRPC status table, extended over the 4xx/5xx statuses applications register. */
function fromHttpStatus(status: number): GrpcStatusCode {
  switch (status) {
    case 400:
      return GrpcStatus.INVALID_ARGUMENT;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.NOT_FOUND;
    case 409:
      return GrpcStatus.ABORTED;
    case 412:
    case 422:
      return GrpcStatus.FAILED_PRECONDITION;
    case 413:
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 499:
      return GrpcStatus.CANCELLED;
    case 501:
      return GrpcStatus.UNIMPLEMENTED;
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    default:
      return status >= 500 ? GrpcStatus.INTERNAL : GrpcStatus.UNKNOWN;
  }
}

/** The gRPC status a Courier error code is sent with. */
export function grpcStatusOfCode(code: string): GrpcStatusCode {
  const own = BY_CODE[code];
  if (own !== undefined) return own;
  const type = errorTypeOf(code);
  return type === undefined ? GrpcStatus.UNKNOWN : fromHttpStatus(type.status);
}

export function statusName(status: number): string {
  return NAMES[status] ?? `STATUS_${status}`;
}

/** The trailers that end a failed call: status, message and the Courier error. */
export interface ErrorTrailers {
  readonly status: GrpcStatusCode;
  readonly wire: WireError;
  /** Header fields: `grpc-status`, `grpc-message`, `courier-error-bin`. */
  readonly fields: Record<string, string>;
}

export function errorTrailers(error: unknown, exposeErrors: boolean): ErrorTrailers {
  const wire = toWireError(error, { exposeErrors });
  const status = grpcStatusOfCode(wire.code);
  return {
    status,
    wire,
    fields: {
      'grpc-status': String(status),
      'grpc-message': encodeGrpcMessage(wire.message),
      [ERROR_TRAILER]: Buffer.from(wireErrorJson(wire)).toString('base64'),
    },
  };
}

/**
 * The error a non-OK status stands for. `courierError` is the `courier-error-bin` value (base64 text, or
 * already-decoded bytes), when the peer sent one; it is trusted only if it parses as a wire error.
 */
export function errorOfStatus(status: number, message: string, courierError: string | Buffer | undefined): CourierError {
  if (courierError !== undefined) {
    try {
      const bytes = typeof courierError === 'string' ? Buffer.from(courierError, 'base64') : courierError;
      const parsed: unknown = JSON.parse(bytes.toString('utf8'));
      const error = fromWireError(parsed);
      if (!(error instanceof BadResponseError && error.message === 'error response without a Courier error code')) return error;
    } catch {
      // not a Courier wire error: fall back to the status
    }
  }
  const details = { grpcStatus: status, grpcStatusName: statusName(status) };
  const text = message === '' ? statusName(status) : message;
  switch (status) {
    case GrpcStatus.CANCELLED:
      return new CancelledError(text, { details });
    case GrpcStatus.INVALID_ARGUMENT:
      return new BadRequestError('malformed-body', text, { details });
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(text, { details });
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.UNIMPLEMENTED:
      return new NotFoundError(text, { details });
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new CourierError('RESOURCE_EXHAUSTED', text, { retryable: true, details });
    case GrpcStatus.INTERNAL:
    case GrpcStatus.UNKNOWN:
      return new InternalError(text, { details });
    case GrpcStatus.UNAVAILABLE:
      return new UnavailableError(text, { details });
    default:
      return new CourierError(`GRPC_${statusName(status)}`, text, { details });
  }
}

/** A message too large to read, as the error both sides raise. */
export function tooLarge(size: number, max: number): MessageTooLargeError {
  return new MessageTooLargeError(size, max);
}

/**
 * `grpc-message` is percent-encoded: bytes outside printable ASCII (0x20–0x7E) and `%` itself become `%XX`
 * of their UTF-8 bytes, so any header-safe client can carry it and decode it back.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

export function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined || value.indexOf('%') < 0) return value ?? '';
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}
