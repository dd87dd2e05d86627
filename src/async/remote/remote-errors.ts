/**
 * Errors across the local socket. The served broker's error is sent as JSON and rebuilt on the client as
 * the same class where the client can rebuild it (TypeError, RangeError, MessageTooLargeError,
 * ClosedError), otherwise as a `RemoteBrokerError` carrying the original `code` and `retryable`, so that
 * retry policies decide the same way as they would in the broker's own process.
 */
import { ClosedError, CourierError, MessageTooLargeError } from '../../core/errors.js';

/**
 * The broker server cannot be reached (no connection for longer than `unavailableTimeoutMs`). Retryable:
 * the client keeps reconnecting, and operations succeed again once the server is back.
 */
export class RemoteBrokerUnavailableError extends CourierError {
  constructor(message = 'broker server unavailable', options: { cause?: unknown } = {}) {
    super('BROKER_UNAVAILABLE', message, { retryable: true, ...options });
  }
}

/** An error the served broker raised that has no class on this side; `code` and `retryable` are kept. */
export class RemoteBrokerError extends CourierError {
  constructor(code: string, message: string, retryable: boolean, details: Record<string, unknown> | undefined, readonly remoteName: string) {
    super(code, message, { retryable, ...(details === undefined ? {} : { details }) });
  }
}

/** The server broke the protocol (malformed frame, unknown request); the connection is dropped. */
export class ProtocolError extends CourierError {
  constructor(message: string) {
    super('PROTOCOL_ERROR', message, { retryable: true });
  }
}

interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly retryable?: boolean;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;
  readonly sizeBytes?: number;
  readonly maxBytes?: number;
}

export function errorToWire(error: unknown): WireError {
  if (error instanceof MessageTooLargeError) {
    return { name: error.name, message: error.message, code: error.code, sizeBytes: error.sizeBytes, maxBytes: error.maxBytes };
  }
  if (error instanceof CourierError) {
    return {
      name: error.name,
      message: error.message,
      code: error.code,
      retryable: error.retryable,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
      ...(error.details === undefined ? {} : { details: error.details }),
    };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

export function errorFromWire(wire: WireError): Error {
  switch (wire.code) {
    case 'MESSAGE_TOO_LARGE':
      return new MessageTooLargeError(wire.sizeBytes ?? 0, wire.maxBytes ?? 0);
    case 'CLOSED':
      return new ClosedError(wire.message.replace(/ is closed$/, ''));
    case undefined:
      break;
    default:
      return new RemoteBrokerError(wire.code, wire.message, wire.retryable ?? false, wire.details, wire.name);
  }
  if (wire.name === 'TypeError') return new TypeError(wire.message);
  if (wire.name === 'RangeError') return new RangeError(wire.message);
  const error = new Error(wire.message);
  error.name = wire.name;
  return error;
}

/** `error` as an Error (wrapping a thrown non-Error value). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
