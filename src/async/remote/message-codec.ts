/**
 * Encoding and decoding of the hot-path frames (PUBLISH, DELIVER, SETTLE, RESULTS entries), field by field
 * as laid out in `protocol.ts`: no JSON and no per-message allocation beyond the message itself.
 */
import type { OutgoingMessage, ReceivedMessage } from '../broker.js';
import { parseEntry } from '../embedded/batch-codec.js';
import type { StoredEntry } from '../encoded-entry.js';
import type { Cursor } from './frame-decoder.js';
import type { FrameEncoder } from './frame-encoder.js';
import { errorFromWire, errorToWire } from './remote-errors.js';
import { DeliverFlag, FrameType, fromJson, PublishFlag, ResultKind, toJson, type SettleOp } from './protocol.js';

/** Encode a PUBLISH frame; returns a view of it (kept by the client for resending after a reconnect). */
export function encodePublish(enc: FrameEncoder, reqId: number, topic: string, m: OutgoingMessage): Buffer {
  enc.begin(FrameType.PUBLISH);
  try {
    enc.u32(reqId);
    const hasDelay = m.delayMs !== undefined && m.delayMs > 0;
    enc.u8((m.key !== undefined ? PublishFlag.KEY : 0) | (hasDelay ? PublishFlag.DELAY : 0));
    enc.str(topic);
    enc.str(m.id);
    if (m.key !== undefined) enc.str(m.key);
    if (hasDelay) enc.f64(m.delayMs);
    enc.headers(m.headers ?? {});
    enc.bytes(m.body);
  } catch (error) {
    enc.abort();
    throw error;
  }
  return enc.endWithView();
}

export interface DecodedPublish {
  readonly reqId: number;
  readonly topic: string;
  readonly message: OutgoingMessage;
}

/** Decode a PUBLISH frame. The body is a view of the received bytes (brokers copy what they keep). */
export function decodePublish(c: Cursor): DecodedPublish {
  const reqId = c.u32();
  const flags = c.u8();
  const topic = c.str();
  const id = c.str();
  const key = flags & PublishFlag.KEY ? c.str() : undefined;
  const delayMs = flags & PublishFlag.DELAY ? c.f64() : undefined;
  const headers = c.headers();
  const body = c.view();
  const message: OutgoingMessage = delayMs === undefined ? { id, key, headers, body } : { id, key, headers, body, delayMs };
  return { reqId, topic, message };
}

export function encodeDeliver(enc: FrameEncoder, subId: number, deliveryId: number, m: ReceivedMessage): void {
  enc.begin(FrameType.DELIVER);
  try {
    enc.u32(subId);
    enc.u32(deliveryId);
    enc.u32(m.attempt);
    const seq = m.sequence;
    let flags = m.key !== undefined ? DeliverFlag.KEY : 0;
    if (typeof seq === 'number') flags |= DeliverFlag.SEQ_NUMBER;
    else if (typeof seq === 'bigint') flags |= DeliverFlag.SEQ_BIGINT;
    if (m.publishedAt !== undefined) flags |= DeliverFlag.PUBLISHED_AT;
    enc.u8(flags);
    if (typeof seq === 'number') enc.f64(seq);
    else if (typeof seq === 'bigint') enc.str(seq.toString());
    if (m.publishedAt !== undefined) enc.f64(m.publishedAt);
    enc.str(m.id);
    if (m.key !== undefined) enc.str(m.key);
    enc.headers(m.headers);
    enc.bytes(m.body);
  } catch (error) {
    enc.abort();
    throw error;
  }
  enc.end();
}

/** DELIVER_ENTRY (protocol 2): the message as its stored entry bytes. */
export function encodeDeliverEntry(enc: FrameEncoder, subId: number, deliveryId: number, attempt: number, e: StoredEntry): void {
  enc.begin(FrameType.DELIVER_ENTRY);
  enc.u32(subId);
  enc.u32(deliveryId);
  enc.u32(attempt);
  enc.f64(e.seq);
  enc.f64(e.publishedAt);
  enc.bytesRange(e.bytes, e.start, e.end);
  enc.end();
}

/** Decode a DELIVER_ENTRY frame; the body is copied out of the received bytes. */
export function decodeDeliverEntry(c: Cursor, topicOf: (subId: number) => string | undefined): DecodedDelivery | undefined {
  const subId = c.u32();
  const topic = topicOf(subId);
  if (topic === undefined) return undefined;
  const deliveryId = c.u32();
  const attempt = c.u32();
  const sequence = c.f64();
  const publishedAt = c.f64();
  const entry = c.view();
  const { id, key, headers, body } = parseEntry(entry, 0, entry.byteLength, true);
  return { subId, deliveryId, message: { id, topic, key, headers, body, attempt, sequence, publishedAt } };
}

export interface DecodedDelivery {
  readonly subId: number;
  readonly deliveryId: number;
  readonly message: ReceivedMessage;
}

/** Decode a DELIVER frame; `topic` is the subscription's. The body is copied (the consumer may keep it). */
export function decodeDeliver(c: Cursor, topicOf: (subId: number) => string | undefined): DecodedDelivery | undefined {
  const subId = c.u32();
  const topic = topicOf(subId);
  if (topic === undefined) return undefined;
  const deliveryId = c.u32();
  const attempt = c.u32();
  const flags = c.u8();
  const sequence = flags & DeliverFlag.SEQ_NUMBER ? c.f64() : flags & DeliverFlag.SEQ_BIGINT ? BigInt(c.str()) : undefined;
  const publishedAt = flags & DeliverFlag.PUBLISHED_AT ? c.f64() : undefined;
  const id = c.str();
  const key = flags & DeliverFlag.KEY ? c.str() : undefined;
  const headers = c.headers();
  const body = new Uint8Array(c.view());
  return { subId, deliveryId, message: { id, topic, key, headers, body, attempt, sequence, publishedAt } };
}

export function encodeSettle(enc: FrameEncoder, reqId: number, deliveryId: number, op: SettleOp, ms: number): void {
  enc.begin(FrameType.SETTLE);
  enc.u32(reqId);
  enc.u32(deliveryId);
  enc.u8(op);
  enc.f64(ms);
  enc.end();
}

/** An ACKS frame (protocol 2): every delivery listed is acked; one result answers them all. */
export function encodeAcks(enc: FrameEncoder, reqId: number, deliveryIds: readonly number[]): void {
  enc.begin(FrameType.ACKS);
  enc.u32(reqId);
  enc.u32(deliveryIds.length);
  for (const id of deliveryIds) enc.u32(id);
  enc.end();
}

export function encodeRequest(enc: FrameEncoder, reqId: number, request: unknown): Buffer {
  enc.begin(FrameType.REQUEST);
  enc.u32(reqId);
  enc.str(toJson(request));
  return enc.endWithView();
}

/** Writes one RESULTS entry. */
export function encodeResult(enc: FrameEncoder, reqId: number, kind: number, payload: unknown): void {
  enc.u32(reqId);
  enc.u8(kind);
  switch (kind) {
    case ResultKind.SEQUENCE_NUMBER:
      enc.f64(payload as number);
      break;
    case ResultKind.SEQUENCE_BIGINT:
      enc.str((payload as bigint).toString());
      break;
    case ResultKind.JSON:
      enc.str(toJson(payload));
      break;
    case ResultKind.ERROR:
      enc.str(JSON.stringify(errorToWire(payload)));
      break;
  }
}

/** Reads one RESULTS entry: `ok` with the value (a sequence, a JSON value or undefined), or the error. */
export function decodeResult(c: Cursor): { reqId: number; ok: boolean; value: unknown } {
  const reqId = c.u32();
  const kind = c.u8();
  switch (kind) {
    case ResultKind.OK:
      return { reqId, ok: true, value: undefined };
    case ResultKind.SEQUENCE_NUMBER:
      return { reqId, ok: true, value: c.f64() };
    case ResultKind.SEQUENCE_BIGINT:
      return { reqId, ok: true, value: BigInt(c.str()) };
    case ResultKind.JSON:
      return { reqId, ok: true, value: fromJson(c.str()) };
    case ResultKind.ERROR:
      return { reqId, ok: false, value: errorFromWire(JSON.parse(c.str())) };
    default:
      throw new RangeError(`unknown result kind ${kind}`);
  }
}
