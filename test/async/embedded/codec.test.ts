import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchEncoder, decodeEntry, entryOffsets, measureHeaders, offsetOfEntry, parseEntry, type EncodableMessage } from '../../../src/async/embedded/batch-codec.js';
import { decodeUnsettled, encodeUnsettled } from '../../../src/async/embedded/window-codec.js';

function encodable(m: { id: string; key?: string | undefined; headers: Record<string, string>; body: Uint8Array; notBefore: number }): EncodableMessage {
  const { count, chars } = measureHeaders(m.headers);
  return { id: m.id, key: m.key, headers: m.headers, headerCount: count, headerChars: chars, body: m.body, notBefore: m.notBefore };
}

const message = fc.record({
  id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  key: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: undefined }),
  headers: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ unit: 'grapheme', maxLength: 30 }), { maxKeys: 5 }),
  body: fc.uint8Array({ maxLength: 300 }),
  notBefore: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 45 })),
});

describe('embedded broker codecs', () => {
  it('a batch row decodes to the messages encoded into it, by position and sequentially', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 2 ** 40 }), (messages, firstSeq) => {
        const encoder = new BatchEncoder();
        for (const m of messages) encoder.append(encodable(m));
        const data = Buffer.from(encoder.view());
        const offsets = entryOffsets(data, messages.length);
        let offset = 0;
        messages.forEach((m, i) => {
          expect(offsetOfEntry(data, i)).toBe(offsets[i]);
          const { message: decoded, next } = decodeEntry(data, offset, firstSeq + i, 123);
          const { seq, id, key, headers, body, publishedAt, notBefore } = decoded;
          expect({ seq, id, key, headers, body }).toEqual({ seq: firstSeq + i, id: m.id, key: m.key, headers: m.headers, body: Buffer.from(m.body) });
          expect({ publishedAt, notBefore }).toEqual({ publishedAt: 123, notBefore: m.notBefore });
          // The stored bytes a remote consumer receives decode to the same fields.
          const fields = parseEntry(decoded.entry, 0, decoded.entry.byteLength, true);
          expect(fields).toEqual({ id: m.id, key: m.key, headers: m.headers, body: Buffer.from(m.body) });
          offset = next;
        });
        expect(offset).toBe(data.byteLength);
      }),
    );
  });

  it('decoded bodies are copies, not views of the row', () => {
    const encoder = new BatchEncoder();
    encoder.append(encodable({ id: 'a', headers: {}, body: new Uint8Array([1, 2, 3]), notBefore: 0 }));
    const data = Buffer.from(encoder.view());
    const { message } = decodeEntry(data, 0, 1, 0);
    data.fill(0);
    expect([...message.body]).toEqual([1, 2, 3]);
  });

  it('a message read as a view of its row hands out a body copy, and after detach no longer reads the row', () => {
    const encoder = new BatchEncoder();
    encoder.append(encodable({ id: 'a', key: 'k', headers: { h: 'v' }, body: new Uint8Array([1, 2, 3]), notBefore: 0 }));
    encoder.append(encodable({ id: 'b', headers: {}, body: new Uint8Array([4, 5]), notBefore: 0 }));
    const data = Buffer.from(encoder.view());
    const first = decodeEntry(data, 0, 1, 0, false);
    const second = decodeEntry(data, first.next, 2, 0, false).message;
    const flagsAt = first.next + 4; // second entry's first byte in the row
    expect(second.entry[0]).toBe(data[flagsAt]);
    data[flagsAt] = 0x7f;
    expect(second.entry[0]).toBe(0x7f); // a view: no copy when read in order
    data[flagsAt] = 0;
    const body = first.message.body;
    second.detach();
    data.fill(0xee);
    expect([...body]).toEqual([1, 2, 3]);
    expect(first.message.key).toBe('k');
    expect([second.id, [...second.body]]).toEqual(['b', [4, 5]]);
  });

  it('rejects an id longer than 65535 characters', () => {
    const encoder = new BatchEncoder();
    expect(() => encoder.append(encodable({ id: 'x'.repeat(70_000), headers: {}, body: new Uint8Array(), notBefore: 0 }))).toThrow(RangeError);
  });

  it('keeps a header named __proto__ as a plain property', () => {
    const encoder = new BatchEncoder();
    const headers = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>;
    encoder.append(encodable({ id: 'a', headers, body: new Uint8Array(), notBefore: 0 }));
    const { message } = decodeEntry(Buffer.from(encoder.view()), 0, 1, 0);
    expect(Object.getPrototypeOf(message.headers)).toBe(Object.prototype);
    expect(Object.keys(message.headers)).toEqual(['__proto__', 'a']);
  });

  it('accepts only string header values', () => {
    expect(() => measureHeaders({ a: 1 } as unknown as Record<string, string>)).toThrow(TypeError);
    expect(measureHeaders({ ab: 'cde', 'é': '' })).toEqual({ count: 2, chars: 6 });
  });

  it('the unsettled window round-trips (sequences below the cursor, delivery counts)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 2 ** 50 }),
        fc.array(fc.record({ back: fc.integer({ min: 1, max: 2 ** 30 }), deliveries: fc.integer({ min: 0, max: 2 ** 31 }) }), { maxLength: 50 }),
        (cursor, raw) => {
          const entries = raw.filter((e) => cursor - e.back >= 1).map((e) => ({ seq: cursor - e.back, deliveries: e.deliveries }));
          expect(decodeUnsettled(cursor, encodeUnsettled(cursor, entries, entries.length))).toEqual(entries);
        },
      ),
    );
  });

  it('the unsettled window round-trips when it is runs of consecutive sequences, in any order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100_000, max: 2 ** 50 }),
        fc.array(fc.record({ back: fc.integer({ min: 1, max: 90_000 }), length: fc.integer({ min: 1, max: 300 }), deliveries: fc.integer({ min: 0, max: 3 }) }), {
          maxLength: 12,
        }),
        (cursor, runs) => {
          const entries = runs.flatMap((r) =>
            Array.from({ length: Math.min(r.length, r.back) }, (_, i) => ({ seq: cursor - r.back + i, deliveries: r.deliveries })),
          );
          expect(decodeUnsettled(cursor, encodeUnsettled(cursor, entries, entries.length))).toEqual(entries);
        },
      ),
    );
  });

  it('a window of consecutive messages takes a few bytes, however many it holds', () => {
    const cursor = 1_000_000;
    const inFlight = Array.from({ length: 500 }, (_, i) => ({ seq: cursor - 4096 + i, deliveries: 1 }));
    const ready = Array.from({ length: 3596 }, (_, i) => ({ seq: cursor - 3596 + i, deliveries: 0 }));
    const window = [...inFlight, ...ready];
    const blob = encodeUnsettled(cursor, window, window.length);
    expect(blob.byteLength).toBeLessThan(16);
    expect(decodeUnsettled(cursor, blob)).toEqual(window);
  });

  it('round-trips a window larger than the default with a run per entry', () => {
    const cursor = 2 ** 40;
    const window = Array.from({ length: 9000 }, (_, i) => ({ seq: cursor - 20_000 + 2 * i, deliveries: i % 3 }));
    expect(decodeUnsettled(cursor, encodeUnsettled(cursor, window, window.length))).toEqual(window);
  });

  it('still reads the per-entry layout of earlier versions', () => {
    // count 3, then (cursor - seq, deliveries) per entry: seqs 7, 9, 8 below cursor 10.
    const legacy = Buffer.from([3, 3, 0, 1, 2, 2, 5]);
    expect(decodeUnsettled(10, legacy)).toEqual([
      { seq: 7, deliveries: 0 },
      { seq: 9, deliveries: 2 },
      { seq: 8, deliveries: 5 },
    ]);
    expect(decodeUnsettled(10, Buffer.from([0]))).toEqual([]);
  });

  it('an empty or missing window decodes to nothing', () => {
    expect(decodeUnsettled(10, null)).toEqual([]);
    expect(decodeUnsettled(10, encodeUnsettled(10, [], 0))).toEqual([]);
  });
});
