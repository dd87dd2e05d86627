/**
 * The wire protocol between `remoteBroker` (client) and `serveBroker` (server), version 2.
 *
 * Why a protocol of our own: the embedded broker lives in one process (SQLite wants one writer), and other
 * processes on the machine must reach it at a cost close to an in-process call. A local socket with compact
 * binary frames, many frames per write and one result frame per batch of publishes does that; JSON appears
 * only on rare control frames (handshake, subscribe, seek, lag, errors).
 *
 * ## Framing
 * Every frame is `u32 length | u8 type | payload`, `length` counting the type byte and the payload, big
 * endian. A sender coalesces all frames of one event-loop turn (or of the handling of one received chunk) into
 * one socket write.
 *
 * ## Primitives
 * `str` = `u32 byteLength | UTF-8`; `bytes` = `u32 length | raw`; `headers` = `u16 count | (str name, str
 * value)*`; numbers are big endian; `f64` is an IEEE double; `json` = `str` holding JSON (bigints as
 * `{"$bigint":"…"}`).
 *
 * ## Frames
 * | type | dir | payload |
 * |---|---|---|
 * | HELLO 0x01 | c→s | json `{ protocol }` |
 * | WELCOME 0x02 | s→c | json `{ protocol, name, features, seek }`: the served broker's name and manifest |
 * | REQUEST 0x03 | c→s | `u32 reqId`, json `{ op: 'subscribe'|'unsubscribe'|'seek'|'lag', … }` |
 * | PUBLISH 0x10 | c→s | `u32 reqId, u8 flags (1 key, 2 delay), str topic, str id, [str key], [f64 delayMs], headers, bytes body` |
 * | RESULTS 0x11 | s→c | `u32 count`, then per entry `u32 reqId, u8 kind, value` (kinds below) |
 * | DELIVER 0x20 | s→c | `u32 subId, u32 deliveryId, u32 attempt, u8 flags (1 key, 2 seq f64, 4 seq bigint, 8 publishedAt), [f64 seq | str seq], [f64 publishedAt], str id, [str key], headers, bytes body` |
 * | DELIVER_ENTRY 0x23 | s→c | `u32 subId, u32 deliveryId, u32 attempt, f64 seq, f64 publishedAt, bytes entry` (v2): the message as the embedded broker stored it (entry layout in `embedded/batch-codec.ts`, little endian) |
 * | SETTLE 0x21 | c→s | `u32 reqId, u32 deliveryId, u8 op (SettleOp), f64 ms` |
 * | ACKS 0x22 | c→s | `u32 reqId, u32 count, u32 deliveryId × count` (v2): acks, one result for all of them |
 *
 * Result kinds: 0 ok; 1 ok + `f64` sequence; 2 ok + `str` bigint sequence; 3 ok + json value; 4 error + json
 * (see `remote-errors.ts`).
 *
 * ## Versions
 * HELLO carries the highest version the client speaks; WELCOME answers with the version the connection
 * uses, the lower of the two (a server refuses a client below 1). Version 2 adds two frames:
 * - ACKS: a client acks every delivery its handlers acked in one event-loop turn with one frame and gets one
 *   result back, instead of a SETTLE frame and a result entry per delivery (the acks of one turn share one
 *   group commit anyway);
 * - DELIVER_ENTRY: a message the served broker holds as stored bytes (the embedded broker's log entries,
 *   `encoded-entry.ts`) is sent as those bytes, so the owning process neither decodes nor re-encodes it.
 * A version-1 peer never sees either.
 *
 * ## Flow control
 * A subscription's window is its prefetch: the server subscribes to the served broker with the client's
 * prefetch and holds a credit of `prefetch` per subscription; each DELIVER spends one credit and each
 * settlement that ends a delivery (ack, nack, expire) returns it. A delivery the broker hands over without
 * credit (its lease ran out on the broker's clock before the client's) waits on the server until credit
 * returns, so a client never holds more than `prefetch` deliveries. Publishes are bounded by the client's
 * `maxInFlight`, and the server stops reading a connection with too many publishes not yet stored.
 */

/** The version this code speaks; it also speaks every version down to `MIN_PROTOCOL_VERSION`. */
export const PROTOCOL_VERSION = 2;
export const MIN_PROTOCOL_VERSION = 1;

export const FrameType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  REQUEST: 0x03,
  PUBLISH: 0x10,
  RESULTS: 0x11,
  DELIVER: 0x20,
  SETTLE: 0x21,
  ACKS: 0x22,
  DELIVER_ENTRY: 0x23,
} as const;

export const ResultKind = {
  OK: 0,
  SEQUENCE_NUMBER: 1,
  SEQUENCE_BIGINT: 2,
  JSON: 3,
  ERROR: 4,
} as const;

export const SettleOp = {
  ACK: 0,
  NACK: 1,
  EXTEND: 2,
  /** The client's lease ran out: the delivery is over for the client; the server nacks it. */
  EXPIRE: 3,
} as const;
export type SettleOp = (typeof SettleOp)[keyof typeof SettleOp];

export const PublishFlag = { KEY: 1, DELAY: 2 } as const;
export const DeliverFlag = { KEY: 1, SEQ_NUMBER: 2, SEQ_BIGINT: 4, PUBLISHED_AT: 8 } as const;

/** Frames larger than this end the connection (a corrupt length would otherwise buffer without limit). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** Control requests (REQUEST frames), as JSON. */
export type ControlRequest =
  | {
      readonly op: 'subscribe';
      readonly subId: number;
      readonly topic: string;
      readonly group: string;
      readonly prefetch: number;
      readonly leaseMs: number;
      readonly start: unknown;
    }
  | { readonly op: 'unsubscribe'; readonly subId: number }
  | { readonly op: 'seek'; readonly topic: string; readonly group: string; readonly position: unknown }
  | { readonly op: 'lag'; readonly topic: string; readonly group: string };

/** JSON that keeps bigints (stream sequences, start positions) as `{"$bigint":"…"}`. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

export function fromJson(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && typeof (v as { $bigint?: unknown }).$bigint === 'string') {
      return BigInt((v as { $bigint: string }).$bigint);
    }
    return v;
  });
}
