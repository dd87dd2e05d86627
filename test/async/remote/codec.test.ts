/**
 * The wire codec: whatever is encoded comes out of the decoder unchanged, however the byte stream is cut
 * into chunks (sockets deliver arbitrary pieces), and frames stay valid after the encoder moves to a new slab.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OutgoingMessage, ReceivedMessage } from '../../../src/async/broker.js';
import { FrameDecoder, type Cursor } from '../../../src/async/remote/frame-decoder.js';
import { FrameEncoder } from '../../../src/async/remote/frame-encoder.js';
import { decodeDeliver, decodePublish, decodeResult, encodeDeliver, encodePublish, encodeResult } from '../../../src/async/remote/message-codec.js';
import { FrameType, ResultKind } from '../../../src/async/remote/protocol.js';
import { MessageTooLargeError } from '../../../src/core/errors.js';

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), text, { maxKeys: 6 });
const outgoing: fc.Arbitrary<OutgoingMessage> = fc.record(
  {
    id: fc.string({ minLength: 1, maxLength: 40 }),
    key: fc.option(text, { nil: undefined }),
    headers,
    body: fc.uint8Array({ maxLength: 600 }),
    delayMs: fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined }),
  },
  { requiredKeys: ['id', 'headers', 'body'] },
);
const received: fc.Arbitrary<ReceivedMessage> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 40 }),
  topic: fc.constant('orders'),
  key: fc.option(text, { nil: undefined }),
  headers,
  body: fc.uint8Array({ maxLength: 600 }),
  attempt: fc.integer({ min: 1, max: 2 ** 31 }),
  sequence: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.bigInt({ min: 0n, max: 2n ** 96n })),
  publishedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
});

/** Feed `bytes` to a decoder in pieces cut at `cuts` (fractions of the length). */
function decodeInPieces(bytes: Buffer, cuts: number[], onFrame: (type: number, c: Cursor) => void): void {
  const decoder = new FrameDecoder(onFrame);
  const points = [...new Set(cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) decoder.push(Buffer.from(bytes.subarray(from, p)));
    from = Math.max(from, p);
  }
}

const normalise = (m: OutgoingMessage) => ({ ...m, delayMs: m.delayMs !== undefined && m.delayMs > 0 ? m.delayMs : undefined, body: Buffer.from(m.body) });

describe('remote wire codec', () => {
  it('round-trips publishes through any chunking of the stream', () => {
    fc.assert(
      fc.property(fc.array(outgoing, { minLength: 1, maxLength: 30 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), (messages, cuts) => {
        const enc = new FrameEncoder();
        messages.forEach((m, i) => encodePublish(enc, i + 1, `topic-${i}`, m));
        const out: Array<{ reqId: number; topic: string; message: OutgoingMessage }> = [];
        decodeInPieces(enc.take()!, cuts, (type, c) => {
          expect(type).toBe(FrameType.PUBLISH);
          out.push(decodePublish(c));
        });
        expect(out.map((d) => d.reqId)).toEqual(messages.map((_, i) => i + 1));
        expect(out.map((d) => d.topic)).toEqual(messages.map((_, i) => `topic-${i}`));
        expect(out.map((d) => normalise(d.message))).toEqual(messages.map((m) => normalise({ ...m, key: m.key })));
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips deliveries, including bigint sequences and missing fields', () => {
    fc.assert(
      fc.property(fc.array(received, { minLength: 1, maxLength: 20 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }), (messages, cuts) => {
        const enc = new FrameEncoder();
        messages.forEach((m, i) => encodeDeliver(enc, 7, i, m));
        const out: ReceivedMessage[] = [];
        decodeInPieces(enc.take()!, cuts, (_type, c) => out.push(decodeDeliver(c, (subId) => (subId === 7 ? 'orders' : undefined))!.message));
        expect(out.map((m) => ({ ...m, body: Buffer.from(m.body) }))).toEqual(messages.map((m) => ({ ...m, body: Buffer.from(m.body) })));
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips results: sequences, JSON values (with bigints) and errors as their class', () => {
    const enc = new FrameEncoder();
    enc.begin(FrameType.RESULTS);
    enc.u32(5);
    encodeResult(enc, 1, ResultKind.OK, undefined);
    encodeResult(enc, 2, ResultKind.SEQUENCE_NUMBER, 42);
    encodeResult(enc, 3, ResultKind.SEQUENCE_BIGINT, 2n ** 70n);
    encodeResult(enc, 4, ResultKind.JSON, { pending: 3, at: 5n });
    encodeResult(enc, 5, ResultKind.ERROR, new MessageTooLargeError(10, 5));
    enc.end();
    const results: Array<ReturnType<typeof decodeResult>> = [];
    decodeInPieces(enc.take()!, [0.3], (_t, c) => {
      const n = c.u32();
      for (let i = 0; i < n; i++) results.push(decodeResult(c));
    });
    expect(results.slice(0, 4)).toEqual([
      { reqId: 1, ok: true, value: undefined },
      { reqId: 2, ok: true, value: 42 },
      { reqId: 3, ok: true, value: 2n ** 70n },
      { reqId: 4, ok: true, value: { pending: 3, at: 5n } },
    ]);
    const error = results[4]!;
    expect(error.ok).toBe(false);
    expect(error.value).toBeInstanceOf(MessageTooLargeError);
    expect(error.value).toMatchObject({ sizeBytes: 10, maxBytes: 5, code: 'MESSAGE_TOO_LARGE' });
  });

  it('keeps a returned frame intact after the encoder moved on to new slabs', () => {
    const enc = new FrameEncoder();
    const first = Buffer.from(encodePublish(enc, 1, 't', { id: 'a', headers: {}, body: new Uint8Array(10).fill(1) }));
    const view = encodePublish(enc, 2, 't', { id: 'b', headers: {}, body: new Uint8Array(10).fill(2) });
    const copy = Buffer.from(view);
    enc.take();
    for (let i = 0; i < 50; i++) encodePublish(enc, 100 + i, 't', { id: `x${i}`, headers: {}, body: new Uint8Array(4000).fill(9) });
    enc.take();
    expect(view).toEqual(copy);
    expect(first.length).toBeGreaterThan(0);
  });

  it('drops a frame whose encoding failed, keeping the stream valid', () => {
    const enc = new FrameEncoder();
    encodePublish(enc, 1, 't', { id: 'ok-1', headers: {}, body: new Uint8Array(1) });
    expect(() => encodePublish(enc, 2, 't', { id: 'bad', headers: { h: 5 as unknown as string }, body: new Uint8Array(1) })).toThrow(TypeError);
    encodePublish(enc, 3, 't', { id: 'ok-3', headers: {}, body: new Uint8Array(1) });
    const ids: string[] = [];
    decodeInPieces(enc.take()!, [], (_t, c) => ids.push(decodePublish(c).message.id));
    expect(ids).toEqual(['ok-1', 'ok-3']);
  });

  it('rejects a frame with an impossible length', () => {
    const decoder = new FrameDecoder(() => undefined);
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(0xffffffff, 0);
    expect(() => decoder.push(bad)).toThrow(RangeError);
  });
});
