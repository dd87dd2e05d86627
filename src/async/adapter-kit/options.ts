/**
 * Checks and defaults shared by the remote broker adapters (redis, amqp, nats, mqtt, kafka), so that every
 * adapter rejects the same bad input with the same error and applies the same defaults as the embedded broker.
 */
import { MessageTooLargeError } from '../../core/errors.js';
import type { OutgoingMessage, StartPosition, SubscribeOptions } from '../broker.js';

export const DEFAULT_PREFETCH = 16;
export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface ResolvedSubscribeOptions {
  readonly group: string;
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly start: StartPosition;
}

/** Validate `subscribe` arguments and fill in defaults. Throws `TypeError` / `RangeError`. */
export function resolveSubscribeOptions(topic: string, options: SubscribeOptions, handler: unknown): ResolvedSubscribeOptions {
  checkName(topic, 'topic');
  if (typeof options?.group !== 'string' || options.group === '') throw new TypeError('subscribe: `group` is required');
  if (typeof handler !== 'function') throw new TypeError('subscribe: handler must be a function');
  return {
    group: options.group,
    prefetch: positiveInt(options.prefetch, DEFAULT_PREFETCH, 'prefetch'),
    leaseMs: positiveInt(options.leaseMs, DEFAULT_LEASE_MS, 'leaseMs'),
    start: options.start ?? { from: 'latest' },
  };
}

/** Validate a publish. Throws `TypeError`, or `MessageTooLargeError` past `maxBytes`. */
export function checkOutgoing(topic: string, message: OutgoingMessage, maxBytes: number): void {
  checkName(topic, 'topic');
  if (typeof message?.id !== 'string' || message.id === '') throw new TypeError('message id must be a non-empty string');
  if (message.key !== undefined && typeof message.key !== 'string') throw new TypeError('message key must be a string');
  if (!(message.body instanceof Uint8Array)) throw new TypeError('message body must be a Uint8Array');
  if (message.body.byteLength > maxBytes) throw new MessageTooLargeError(message.body.byteLength, maxBytes);
  const delay = message.delayMs;
  if (delay !== undefined && !(Number.isFinite(delay) && delay >= 0)) throw new RangeError(`delayMs must be a non-negative number, got ${delay}`);
}

export function checkName(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} name must be a non-empty string`);
}

export function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** A settle delay as a whole number of ms ≥ 0 (undefined, NaN and negatives mean "now"). */
export function delayOf(ms: number | undefined): number {
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0;
}
