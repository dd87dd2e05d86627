import { CourierError, type CourierErrorOptions } from '../core/errors.js';

/**
 * Errors that only a synchronous transport raises: a request the server cannot route or read, and a server
 * the client cannot reach or understand. They live here, not in the core, because they describe a wire.
 * Each has a stable `code` (see `error-registry.ts` for the code → class and code → HTTP status tables) so
 * that it survives the hop and the client rethrows the same class.
 */

/** Why a request was malformed. Carried in `details.reason`, so clients can tell the cases apart. */
export type BadRequestReason =
  | 'malformed-json'
  | 'invalid-utf8'
  | 'json-too-deep'
  | 'forbidden-key'
  | 'invalid-header'
  | 'invalid-idempotency-key'
  | 'malformed-body';

/** The request could not be read (bad JSON, bad encoding, a dangerous key, a bad header). Never retryable. */
export class BadRequestError extends CourierError {
  readonly reason: BadRequestReason;

  constructor(reason: BadRequestReason, message: string, options: CourierErrorOptions = {}) {
    super('BAD_REQUEST', message, { retryable: false, ...options, details: { ...options.details, reason } });
    this.reason = reason;
  }
}

/** No operation is served at this route (or under this name). */
export class NotFoundError extends CourierError {
  constructor(message = 'no such operation', options: CourierErrorOptions = {}) {
    super('NOT_FOUND', message, { retryable: false, ...options });
  }
}

/** The request's content type or content encoding is not one the server reads. */
export class UnsupportedMediaTypeError extends CourierError {
  constructor(message: string, options: CourierErrorOptions = {}) {
    super('UNSUPPORTED_MEDIA_TYPE', message, { retryable: false, ...options });
  }
}

/** The request's headers are larger than the server accepts. */
export class HeadersTooLargeError extends CourierError {
  constructor(message = 'request headers too large', options: CourierErrorOptions = {}) {
    super('HEADERS_TOO_LARGE', message, { retryable: false, ...options });
  }
}

/** The client took too long to send its headers or body (slowloris protection). */
export class RequestTimeoutError extends CourierError {
  constructor(message = 'request not received in time', options: CourierErrorOptions = {}) {
    super('REQUEST_TIMEOUT', message, { retryable: true, ...options });
  }
}

/**
 * The server failed in a way it does not describe to callers (a handler threw a non-Courier error, or its
 * output broke the contract). The message is generic unless the server runs with `exposeErrors`.
 */
export class InternalError extends CourierError {
  constructor(message = 'internal error', options: CourierErrorOptions = {}) {
    super('INTERNAL', message, { retryable: false, ...options });
  }
}

/** The server could not be reached, refused the connection or is shutting down. Retryable. */
export class UnavailableError extends CourierError {
  constructor(message = 'service unavailable', options: CourierErrorOptions = {}) {
    super('UNAVAILABLE', message, { retryable: true, ...options });
  }
}

/** The server's answer could not be understood (not JSON, not a problem document, cut short). */
export class BadResponseError extends CourierError {
  constructor(message: string, options: CourierErrorOptions = {}) {
    super('BAD_RESPONSE', message, { retryable: false, ...options });
  }
}
