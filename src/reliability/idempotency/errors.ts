import { CourierError, type CourierErrorOptions } from '../../core/errors.js';

/**
 * The two ways an `Idempotency-Key` can be refused (draft-ietf-httpapi-idempotency-key-header):
 * the key was already used for a different request (422), or the first request with the key is still
 * running and did not finish within the wait the server allows (409, retryable: try again later and get
 * the stored answer).
 */

/** The key was first used with a different payload: a client bug, never retryable. */
export class IdempotencyKeyReusedError extends CourierError {
  constructor(readonly key: string, options: CourierErrorOptions = {}) {
    super('IDEMPOTENCY_KEY_REUSED', `idempotency key "${key}" was already used with a different request`, {
      retryable: false,
      ...options,
      details: { ...options.details, key },
    });
  }
}

/** The first request with this key is still in flight. Retry after `retryAfterMs` to receive its answer. */
export class IdempotencyConflictError extends CourierError {
  constructor(readonly key: string, options: CourierErrorOptions = {}) {
    super('IDEMPOTENCY_IN_PROGRESS', `a request with idempotency key "${key}" is still in progress`, {
      retryable: true,
      ...options,
      details: { ...options.details, key },
    });
  }
}
