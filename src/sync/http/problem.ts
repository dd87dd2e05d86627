import { STATUS_CODES } from 'node:http';
import type { CourierError } from '../../core/errors.js';
import { type WireError, fromWireError } from '../error-registry.js';

/**
 * Errors on the HTTP wire as RFC 9457 problem details (`application/problem+json`). The standard members
 * are filled as the RFC intends: `type` a URI naming the problem kind (`urn:courier:error:<code>`), `title`
 * the status text, `status`, and `detail` the human message. Courier's own members ride along as the
 * extension members the RFC allows: `code` (the stable error code the client maps back to a class),
 * `retryable`, `retryAfterMs`, `details`, `issues` (validation paths) and `fields`.
 *
 * A problem document from anywhere else (no `code`) or a non-JSON error page is mapped by status alone.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemJson(wire: WireError, status: number, instance?: string): string {
  return JSON.stringify({
    type: `urn:courier:error:${wire.code}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: wire.message,
    ...(instance === undefined ? {} : { instance }),
    code: wire.code,
    retryable: wire.retryable,
    ...(wire.retryAfterMs === undefined ? {} : { retryAfterMs: wire.retryAfterMs }),
    ...(wire.details === undefined ? {} : { details: wire.details }),
    ...(wire.issues === undefined ? {} : { issues: wire.issues }),
    ...(wire.fields === undefined ? {} : { fields: wire.fields }),
  });
}

/**
 * The error a problem document stands for, or undefined when `body` is not a Courier problem. `retryAfterMs`
 * falls back to the `Retry-After` header (seconds) when the document has none.
 */
export function errorFromProblem(body: unknown, retryAfterHeader: number | undefined): CourierError | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const p = body as Record<string, unknown>;
  if (typeof p['code'] !== 'string') return undefined;
  return fromWireError({
    code: p['code'],
    message: typeof p['detail'] === 'string' ? p['detail'] : typeof p['title'] === 'string' ? p['title'] : p['code'],
    retryable: typeof p['retryable'] === 'boolean' ? p['retryable'] : false,
    retryAfterMs: typeof p['retryAfterMs'] === 'number' ? p['retryAfterMs'] : retryAfterHeader,
    details: p['details'] as Record<string, unknown> | undefined,
    issues: p['issues'] as WireError['issues'],
    fields: p['fields'] as Record<string, unknown> | undefined,
  });
}

/** `Retry-After` in seconds (delay-seconds form) → ms; the HTTP-date form is not used by Courier servers. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  return Number(value) * 1000;
}
