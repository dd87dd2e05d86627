import type { CancelToken } from '../../core/cancel.js';
import { Context } from '../../core/context.js';
import { isValidTraceparent, isValidTracestate } from '../../core/trace-context.js';
import { BadRequestError } from '../errors.js';
import type { CallFrame } from './frames.js';

/**
 * How a call's context travels in a `call` frame, both ways (the WebSocket counterpart of
 * `http/headers.ts`, with the same rules):
 * - deadline: `ms`, the budget left when the frame was sent (relative, survives clock skew; the callee's
 *   deadline is its own `now + ms`), plus `dl`, the absolute deadline, read only when `ms` is absent;
 * - `tp`/`ts` W3C trace context (invalid values are dropped, as the spec asks; `ts` only with a valid `tp`),
 *   `cid`/`cau` correlation and causation ids, `at` the attempt, `ik` the idempotency key, `md` metadata.
 * A malformed value is a `BadRequestError` (`invalid-header`) for that call, never a silently dropped
 * deadline: a call that lost its deadline could run forever.
 */
const MAX_ID_LENGTH = 256;
const MAX_KEY_LENGTH = 255;
const MAX_METADATA = 64;

/** The frame of a call: `{ t: 'call', id, op, in, …context }`. Only fields with a value are written. */
export function callFrameJson(id: number, op: string, input: unknown, ctx: Context, now: number): string {
  const frame: Record<string, unknown> = { t: 'call', id, op, in: input };
  if (ctx.deadline !== undefined) {
    frame['ms'] = Math.max(0, Math.ceil(ctx.deadline - now));
    frame['dl'] = Math.ceil(ctx.deadline);
  }
  if (ctx.idempotencyKey !== undefined) frame['ik'] = ctx.idempotencyKey;
  if (ctx.traceparent !== undefined) {
    frame['tp'] = ctx.traceparent;
    if (ctx.tracestate !== undefined && ctx.tracestate !== '') frame['ts'] = ctx.tracestate;
  }
  if (ctx.correlationId !== undefined) frame['cid'] = ctx.correlationId;
  if (ctx.causationId !== undefined) frame['cau'] = ctx.causationId;
  if (ctx.attempt !== 1) frame['at'] = ctx.attempt;
  for (const _ in ctx.metadata) {
    frame['md'] = ctx.metadata;
    break;
  }
  return JSON.stringify(frame);
}

/** Rebuild the callee's context from a call frame. Throws `BadRequestError` on a malformed field. */
export function contextFromFrame(frame: CallFrame, now: number, cancel: CancelToken, operation: string): Context {
  const validParent = typeof frame.tp === 'string' && isValidTraceparent(frame.tp);
  return new Context({
    deadline: deadlineOf(frame, now),
    cancel,
    correlationId: idOf(frame.cid, 'cid'),
    causationId: idOf(frame.cau, 'cau'),
    traceparent: validParent ? (frame.tp) : undefined,
    tracestate: validParent && typeof frame.ts === 'string' && isValidTracestate(frame.ts) ? frame.ts : undefined,
    attempt: frame.at === undefined ? 1 : attemptOf(frame.at),
    idempotencyKey: keyOf(frame.ik),
    operation,
    metadata: frame.md === undefined ? undefined : metadataOf(frame.md),
  });
}

function deadlineOf(frame: CallFrame, now: number): number | undefined {
  if (frame.ms !== undefined) return now + nonNegative(frame.ms, 'ms');
  return frame.dl === undefined ? undefined : nonNegative(frame.dl, 'dl');
}

function nonNegative(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  return invalid(`${field} must be a non-negative integer`);
}

function attemptOf(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  return invalid('at must be a positive integer');
}

function idOf(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    return invalid(`${field} must be a string of 1..${MAX_ID_LENGTH} characters`);
  }
  return value;
}

function keyOf(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new BadRequestError('invalid-idempotency-key', `ik must be a string of 1..${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

function metadataOf(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid('md must be an object');
  const out: Record<string, string> = {};
  let count = 0;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') continue; // would set the prototype, not an entry
    const v = (value as Record<string, unknown>)[key];
    if (typeof v !== 'string') return invalid('md values must be strings');
    if (++count > MAX_METADATA) return invalid(`md has more than ${MAX_METADATA} entries`);
    out[key] = v;
  }
  return out;
}

function invalid(message: string): never {
  throw new BadRequestError('invalid-header', message);
}
