import type { IncomingHttpHeaders } from 'node:http';
import type { CancelToken } from '../../core/cancel.js';
import { Context } from '../../core/context.js';
import { isValidTraceparent, isValidTracestate } from '../../core/trace-context.js';
import { BadRequestError } from '../errors.js';

/**
 * How a call's context travels in HTTP headers, both ways.
 *
 * Deadline: two headers, written together by Courier clients.
 * - `courier-timeout-ms`: the time left, in whole ms, when the request was sent (relative, like gRPC's
 *   `grpc-timeout`). The server's deadline is its own `now + timeout`. This survives clock skew between
 *   hosts; it overstates the budget by the request's transit time, which on a LAN is far below the
 *   granularity deadlines are set at.
 * - `courier-deadline`: the absolute deadline, epoch ms. Used only when no relative header is present (a
 *   foreign client, a message that sat in a queue), because a skewed clock turns it into a wrong budget.
 * A malformed value is a 400 (`invalid-header`), not a silently dropped deadline.
 *
 * Trace and correlation: `traceparent`/`tracestate` (W3C; invalid values are dropped, as the spec asks, and
 * `tracestate` only travels with a valid `traceparent`), `courier-correlation-id` (also read from
 * `x-correlation-id`), `courier-causation-id`, `courier-attempt`.
 * Idempotency: `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header: a structured-field string, so
 * written quoted; a bare token is accepted too). Metadata: W3C `baggage` (percent-encoded `key=value`
 * members). A response replayed from the idempotency store carries `idempotent-replayed: true`.
 */
export const HEADER = {
  timeout: 'courier-timeout-ms',
  deadline: 'courier-deadline',
  correlation: 'courier-correlation-id',
  correlationAlt: 'x-correlation-id',
  causation: 'courier-causation-id',
  attempt: 'courier-attempt',
  idempotencyKey: 'idempotency-key',
  replayed: 'idempotent-replayed',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  baggage: 'baggage',
} as const;

const MAX_ID_LENGTH = 256;
const MAX_BAGGAGE_MEMBERS = 64;

/** Rebuild the server-side context of a request. Throws `BadRequestError` on a malformed Courier header. */
export function contextFromHeaders(
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
  return new Context({
    deadline: deadlineOf(headers, now),
    cancel,
    correlationId: idHeader(headers[HEADER.correlation] ?? headers[HEADER.correlationAlt]),
    causationId: idHeader(headers[HEADER.causation]),
    traceparent: validParent ? traceparent : undefined,
    tracestate: typeof tracestate === 'string' && isValidTracestate(tracestate) ? tracestate : undefined,
    attempt: attempt === undefined ? 1 : positiveInt(attempt, HEADER.attempt),
    idempotencyKey: idempotencyKeyOf(headers[HEADER.idempotencyKey]),
    operation,
    metadata: baggage === undefined ? undefined : parseBaggage(baggage),
  });
}

function deadlineOf(headers: IncomingHttpHeaders, now: number): number | undefined {
  const relative = headers[HEADER.timeout];
  if (relative !== undefined) return now + nonNegativeInt(relative, HEADER.timeout);
  const absolute = headers[HEADER.deadline];
  return absolute === undefined ? undefined : nonNegativeInt(absolute, HEADER.deadline);
}

/**
 * Append the headers that carry `ctx` to `out` (name, value, name, value…), as the client sends them.
 *
 * A field no header can carry must not fail the call (undici refuses a header value with a line break or a
 * character outside Latin-1, and the call would fail as a retryable `UnavailableError`): trace context and
 * correlation/causation ids the server would drop anyway (see `contextFromHeaders`) are not sent. An
 * idempotency key the server would refuse is refused here, with the server's `BadRequestError`, so that a
 * retry policy does not repeat a call that can never succeed.
 */
export function pushContextHeaders(out: string[], ctx: Context, now: number): void {
  if (ctx.deadline !== undefined) {
    out.push(
      HEADER.timeout,
      String(Math.max(0, Math.ceil(ctx.deadline - now))),
      HEADER.deadline,
      String(Math.ceil(ctx.deadline)),
    );
  }
  pushTraceAndIds(out, ctx);
  if (ctx.idempotencyKey !== undefined) {
    const key = ctx.idempotencyKey;
    if (!isVisibleAscii(key) || key.includes('"') || key.includes('\\')) {
      throw new BadRequestError(
        'invalid-idempotency-key',
        'idempotency key must be visible ASCII without quotes or backslashes',
      );
    }
    out.push(HEADER.idempotencyKey, `"${key}"`);
  }
  for (const _ in ctx.metadata) {
    out.push(HEADER.baggage, formatBaggage(ctx.metadata));
    break;
  }
}

/**
 * Append trace context, correlation and causation ids and the attempt, as both HTTP and gRPC carry them.
 * Values a header cannot carry unchanged are left out (the receiver would drop them anyway), never fatal.
 */
export function pushTraceAndIds(out: string[], ctx: Context): void {
  if (ctx.traceparent !== undefined && isVisibleAscii(ctx.traceparent)) {
    out.push(HEADER.traceparent, ctx.traceparent);
    const state = ctx.tracestate;
    if (state !== undefined && state !== '' && isPrintableAscii(state)) out.push(HEADER.tracestate, state);
  }
  const correlation = idHeader(ctx.correlationId);
  if (correlation !== undefined) out.push(HEADER.correlation, correlation);
  const causation = idHeader(ctx.causationId);
  if (causation !== undefined) out.push(HEADER.causation, causation);
  if (ctx.attempt !== 1) out.push(HEADER.attempt, String(ctx.attempt));
}

/** `Idempotency-Key: "abc"` (sf-string) or a bare `abc`; escapes inside the quotes are not allowed. */
export function idempotencyKeyOf(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value))
    throw new BadRequestError('invalid-idempotency-key', 'more than one Idempotency-Key header');
  const key = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  if (key.includes('"') || key.includes('\\')) {
    throw new BadRequestError('invalid-idempotency-key', 'Idempotency-Key must be a plain string');
  }
  return key;
}

/** W3C baggage → metadata. Members that do not decode are skipped; properties after `;` are ignored. */
export function parseBaggage(value: string | string[]): Record<string, string> {
  const text = Array.isArray(value) ? value.join(',') : value;
  const out: Record<string, string> = {};
  let count = 0;
  for (const member of text.split(',')) {
    if (++count > MAX_BAGGAGE_MEMBERS) break;
    const semi = member.indexOf(';');
    const pair = semi < 0 ? member : member.slice(0, semi);
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      const key = decodeURIComponent(pair.slice(0, eq).trim());
      if (key === '' || key === '__proto__') continue; // would set the prototype, not a member
      out[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      // A malformed percent-escape: skip the member, as W3C baggage receivers may.
    }
  }
  return out;
}

export function formatBaggage(metadata: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const key of Object.keys(metadata))
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(metadata[key]!)}`);
  return parts.join(',');
}

/** An id header's value, or undefined when it is absent, empty, too long or not visible ASCII (dropped, never fatal). */
export function idHeader(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) return undefined;
  return isVisibleAscii(value) ? value : undefined;
}

/** Every character is visible ASCII (0x21–0x7e). */
function isVisibleAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** Every character is printable ASCII, space included (0x20–0x7e). */
function isPrintableAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function nonNegativeInt(value: string | string[], name: string): number {
  if (typeof value === 'string' && value.length > 0 && value.length <= 16) {
    let n = 0;
    for (let i = 0; i < value.length; i++) {
      const d = value.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return invalid(name);
      n = n * 10 + d;
    }
    return n;
  }
  return invalid(name);
}

function positiveInt(value: string | string[], name: string): number {
  const n = nonNegativeInt(value, name);
  return n >= 1 ? n : invalid(name);
}

function invalid(name: string): never {
  throw new BadRequestError('invalid-header', `header ${name} must be a non-negative integer`);
}
