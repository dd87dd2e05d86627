import { type WireError, wireErrorJson } from '../error-registry.js';

/**
 * The frames of Courier's WebSocket protocol: one JSON object per text message, its kind in `t`.
 *
 * Client → server
 *   call    { t, id, op, in?, ms?, dl?, ik?, tp?, ts?, cid?, cau?, at?, md? }
 *           `id` a positive integer unique among the connection's calls in flight; `op` `<service>.<name>`;
 *           `ms` the caller's remaining budget in whole ms when sent (the callee's deadline is its own
 *           now + ms, so clock skew between hosts does not matter); `dl` the absolute deadline (epoch ms),
 *           used only without `ms`; `ik` idempotency key; `tp`/`ts` W3C traceparent/tracestate; `cid`/`cau`
 *           correlation/causation ids; `at` attempt; `md` string metadata.
 *   cancel  { t, id }                  the caller gave up: the callee's `ctx.cancel` fires.
 *   sub     { t, sid, types, subjects?, after, seen }
 *           subscribe, or resume after a reconnect: `after` is the last sequence number the client acked,
 *           `seen` the last it received (≥ after). See `server-subscription.ts`.
 *   unsub   { t, sid }
 *   ack     { t, sid, seq }            cumulative: every push of the subscription up to `seq` is handled.
 *
 * Server → client
 *   res     { t, id, out?, rp? }       `out` absent for an undefined output; `rp: 1` replayed from the
 *                                      idempotency store.
 *   err     { t, id, err }             `err` a `WireError` (error-registry.ts).
 *   subok   { t, sid, seq }            the subscription is live; `seq` the last sequence number assigned.
 *   push    { t, sid, seq, ev, data }  `ev` the event's CloudEvents attributes (id, type, source, time,
 *                                      subject?); `seq` numbers pushes 1, 2, 3… per subscription.
 *   gap     { t, sid, from, to, reason } pushes `from`..`to` are lost (`to` null: unknown how many).
 *
 * Decoding is strict on both sides: any frame that breaks this grammar is a protocol violation and the
 * connection is closed with 1008 (close-codes.ts). Per-call problems (unknown operation, invalid input, a
 * malformed context field) are answered with an `err` frame for that call instead: they do not concern
 * the other calls on the connection.
 */
export interface CallFrame {
  readonly t: 'call';
  readonly id: number;
  readonly op: string;
  readonly in?: unknown;
  readonly ms?: unknown;
  readonly dl?: unknown;
  readonly ik?: unknown;
  readonly tp?: unknown;
  readonly ts?: unknown;
  readonly cid?: unknown;
  readonly cau?: unknown;
  readonly at?: unknown;
  readonly md?: unknown;
}

export interface CancelFrame {
  readonly t: 'cancel';
  readonly id: number;
}

export interface SubFrame {
  readonly t: 'sub';
  readonly sid: string;
  readonly types: readonly string[];
  readonly subjects: readonly string[] | undefined;
  readonly after: number;
  readonly seen: number;
}

export interface UnsubFrame {
  readonly t: 'unsub';
  readonly sid: string;
}

export interface AckFrame {
  readonly t: 'ack';
  readonly sid: string;
  readonly seq: number;
}

export type ClientFrame = CallFrame | CancelFrame | SubFrame | UnsubFrame | AckFrame;

/** The CloudEvents attributes a push carries. */
export interface PushedEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  /** RFC 3339. */
  readonly time: string;
  readonly subject?: string;
}

export interface ResFrame {
  readonly t: 'res';
  readonly id: number;
  readonly out?: unknown;
  readonly rp?: 1;
}

export interface ErrFrame {
  readonly t: 'err';
  readonly id: number;
  readonly err: WireError;
}

export interface SubOkFrame {
  readonly t: 'subok';
  readonly sid: string;
  readonly seq: number;
}

export interface PushFrame {
  readonly t: 'push';
  readonly sid: string;
  readonly seq: number;
  readonly ev: PushedEvent;
  readonly data: unknown;
}

export type GapReason = 'retention' | 'unknown-subscription';

export interface GapFrame {
  readonly t: 'gap';
  readonly sid: string;
  readonly from: number;
  readonly to: number | null;
  readonly reason: GapReason;
}

export type ServerFrame = ResFrame | ErrFrame | SubOkFrame | PushFrame | GapFrame;

/** A frame that breaks the grammar. The receiver closes the connection with 1008 and `message`. */
export class ProtocolViolation extends Error {}

/** Longest subscription id, event type or subject accepted. */
const MAX_NAME = 256;
/** Most event types or subjects in one subscription. */
const MAX_FILTER = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;

function violation(message: string): never {
  throw new ProtocolViolation(message);
}

function names(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_FILTER || !value.every(isName)) {
    violation(`${field} must be 1..${MAX_FILTER} non-empty strings`);
  }
  return value;
}

/** Check a parsed client message. Throws `ProtocolViolation`. */
export function decodeClientFrame(value: unknown): ClientFrame {
  if (!isObject(value)) violation('a frame must be a JSON object');
  switch (value['t']) {
    case 'call':
      if (!isId(value['id'])) violation('call.id must be a positive integer');
      if (!isName(value['op'])) violation('call.op must be a non-empty string');
      return value as unknown as CallFrame;
    case 'cancel':
      if (!isId(value['id'])) violation('cancel.id must be a positive integer');
      return value as unknown as CancelFrame;
    case 'ack':
      if (!isName(value['sid'])) violation('ack.sid must be a non-empty string');
      if (!isSeq(value['seq'])) violation('ack.seq must be a non-negative integer');
      return value as unknown as AckFrame;
    case 'sub': {
      const { sid, after, seen } = value;
      if (!isName(sid)) violation('sub.sid must be a non-empty string');
      if (!isSeq(after) || !isSeq(seen) || seen < after) violation('sub.after and sub.seen must be integers, 0 ≤ after ≤ seen');
      const types = names(value['types'], 'sub.types');
      const subjects = value['subjects'] === undefined ? undefined : names(value['subjects'], 'sub.subjects');
      return { t: 'sub', sid, types, subjects, after, seen };
    }
    case 'unsub':
      if (!isName(value['sid'])) violation('unsub.sid must be a non-empty string');
      return value as unknown as UnsubFrame;
    default:
      return violation(`unknown frame type ${JSON.stringify(value['t'])?.slice(0, 40) ?? 'undefined'}`);
  }
}

/** Check a parsed server message. Throws `ProtocolViolation`. */
export function decodeServerFrame(value: unknown): ServerFrame {
  if (!isObject(value)) violation('a frame must be a JSON object');
  switch (value['t']) {
    case 'res':
      if (!isId(value['id'])) violation('res.id must be a positive integer');
      return value as unknown as ResFrame;
    case 'err':
      if (!isId(value['id'])) violation('err.id must be a positive integer');
      if (!isObject(value['err'])) violation('err.err must be an object');
      return value as unknown as ErrFrame;
    case 'subok':
      if (!isName(value['sid']) || !isSeq(value['seq'])) violation('subok needs sid and seq');
      return value as unknown as SubOkFrame;
    case 'push': {
      const ev = value['ev'];
      if (!isName(value['sid']) || !isId(value['seq'])) violation('push needs sid and seq ≥ 1');
      if (!isObject(ev) || typeof ev['id'] !== 'string' || typeof ev['type'] !== 'string') violation('push.ev needs id and type');
      return value as unknown as PushFrame;
    }
    case 'gap': {
      const { from, to } = value;
      if (!isName(value['sid']) || !isId(from) || !(to === null || (isSeq(to) && to >= from))) violation('gap needs sid, from ≤ to');
      return value as unknown as GapFrame;
    }
    default:
      return violation(`unknown frame type ${JSON.stringify(value['t'])?.slice(0, 40) ?? 'undefined'}`);
  }
}

/** `{"t":"res","id":N,"out":…}` built around already-serialised output JSON (or none). */
export function resFrame(id: number, outJson: string | undefined, replayed: boolean): string {
  const head = replayed ? `{"t":"res","id":${id},"rp":1` : `{"t":"res","id":${id}`;
  return outJson === undefined ? `${head}}` : `${head},"out":${outJson}}`;
}

export function errFrame(id: number, wire: WireError): string {
  return `{"t":"err","id":${id},"err":${wireErrorJson(wire)}}`;
}
