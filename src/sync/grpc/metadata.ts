import type { IncomingHttpHeaders } from 'node:http';
import type { CancelToken } from '../../core/cancel.js';
import { Context } from '../../core/context.js';
import { isValidTraceparent, isValidTracestate } from '../../core/trace-context.js';
import { BadRequestError } from '../errors.js';
import {
  HEADER,
  formatBaggage,
  idHeader,
  idempotencyKeyOf,
  parseBaggage,
  pushTraceAndIds,
} from '../http/headers.js';

/**
 * How a call's context travels in gRPC metadata (HTTP/2 headers), both ways.
 *
 * - Deadline: `grpc-timeout` (gRPC's own: up to 8 digits and a unit, `H M S m u n`), the time left when the
 *   call was sent. The server's deadline is its own `now + timeout`, which survives clock skew between hosts.
 *   A malformed value is refused (`INVALID_ARGUMENT`), not silently dropped. Courier clients send whole ms.
 * - The rest as the HTTP transport carries it (`http/headers.ts`), so proxies and foreign clients see the same
 *   names on either wire: `traceparent`/`tracestate` (W3C; invalid values are dropped), `courier-correlation-id`
 *   (also `x-correlation-id`), `courier-causation-id`, `courier-attempt`, `idempotency-key` (sent bare; the
 *   quoted structured-field form is accepted too) and metadata as W3C `baggage`.
 */
export const GRPC_TIMEOUT = 'grpc-timeout';

/** Rebuild the server-side context of a call. Throws `BadRequestError` on a malformed header. */
export function contextFromMetadata(
  headers: IncomingHttpHeaders,
  now: number,
  cancel: CancelToken,
  operation: string,
): Context {
  const traceparent = headers[HEADER.traceparent];
  const validParent = typeof traceparent === 'string' && isValidTraceparent(traceparent);
  const tracestate = validParent ? headers[HEADER.tracestate] : undefined;
  const baggage = headers[HEADER.baggage];
  const attempt = headers[HEADER.attempt];
  const timeout = headers[GRPC_TIMEOUT];
  return new Context({
    deadline: timeout === undefined ? undefined : now + parseGrpcTimeout(timeout),
    cancel,
    correlationId: idHeader(headers[HEADER.correlation] ?? headers[HEADER.correlationAlt]),
    causationId: idHeader(headers[HEADER.causation]),
    traceparent: validParent ? traceparent : undefined,
    tracestate: typeof tracestate === 'string' && isValidTracestate(tracestate) ? tracestate : undefined,
    attempt: attempt === undefined ? 1 : positiveInt(attempt),
    idempotencyKey: idempotencyKeyOf(headers[HEADER.idempotencyKey]),
    operation,
    metadata: baggage === undefined ? undefined : parseBaggage(baggage),
  });
}

/**
 * Append the metadata that carries `ctx` to `out` (name, value, name, value…), as Courier clients send it.
 * A field HTTP/2 cannot carry unchanged must not fail the call: trace context and ids the server would drop
 * anyway are left out. An idempotency key that cannot travel is refused (`BadRequestError`), as over HTTP.
 */
export function pushContextMetadata(out: string[], ctx: Context, now: number): void {
  if (ctx.deadline !== undefined) out.push(GRPC_TIMEOUT, formatGrpcTimeout(ctx.deadline - now));
  pushTraceAndIds(out, ctx);
  if (ctx.idempotencyKey !== undefined) out.push(HEADER.idempotencyKey, checkedKey(ctx.idempotencyKey));
  for (const _ in ctx.metadata) {
    out.push(HEADER.baggage, formatBaggage(ctx.metadata));
    break;
  }
}

/** True when `ctx` has anything to send (the common in-cluster call has nothing: headers can be shared). */
export function hasContextMetadata(ctx: Context): boolean {
  if (
    ctx.deadline !== undefined ||
    ctx.traceparent !== undefined ||
    ctx.correlationId !== undefined ||
    ctx.causationId !== undefined ||
    ctx.attempt !== 1 ||
    ctx.idempotencyKey !== undefined
  ) {
    return true;
  }
  for (const _ in ctx.metadata) return true;
  return false;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** `grpc-timeout` → ms. */
export function parseGrpcTimeout(value: string | string[]): number {
  if (typeof value === 'string' && value.length >= 2 && value.length <= 9) {
    const unit = UNIT_MS[value[value.length - 1]!];
    let n = 0;
    for (let i = 0; i < value.length - 1; i++) {
      const d = value.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return invalid(GRPC_TIMEOUT);
      n = n * 10 + d;
    }
    if (unit !== undefined) return n * unit;
  }
  return invalid(GRPC_TIMEOUT);
}

/** ms → `grpc-timeout` in whole ms (rounded up, as the HTTP transport does), larger units past 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole <= 99_999_999) return `${whole}m`;
  const seconds = Math.ceil(whole / 1000);
  if (seconds <= 99_999_999) return `${seconds}S`;
  return `${Math.min(99_999_999, Math.ceil(seconds / 3600))}H`;
}

/** An idempotency key must survive HTTP/2 header encoding unchanged: printable ASCII, not quotes or backslashes. */
function checkedKey(key: string): string {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      throw new BadRequestError(
        'invalid-idempotency-key',
        'an idempotency key must be printable ASCII without quotes or backslashes',
      );
    }
  }
  if (key.length === 0)
    throw new BadRequestError('invalid-idempotency-key', 'an idempotency key must not be empty');
  return key;
}

function positiveInt(value: string | string[]): number {
  if (typeof value === 'string' && /^[1-9][0-9]{0,8}$/.test(value)) return Number(value);
  return invalid(HEADER.attempt);
}

function invalid(name: string): never {
  throw new BadRequestError('invalid-header', `metadata ${name} is malformed`);
}
