/** The generated .proto and the codec driven by the same description: shape, round trips, malformed input. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { command, query, service } from '../../../src/core/contract.js';
import { ValidationError } from '../../../src/core/errors.js';
import { BadRequestError } from '../../../src/sync/errors.js';
import { FrameReader, messageCodec, protoFile, protoService } from '../../../src/sync/grpc/index.js';
import { Order, sampleOrder } from '../../schema/order-schema.js';

const Item = z.object({ name: z.string(), n: z.number().int(), price: z.number(), ok: z.boolean().optional(), note: z.string().nullable() });
const Svc = service('catalog-x', {
  queries: {
    find: query({ input: z.object({ ids: z.array(z.number().int()), tags: z.record(z.string(), z.number()) }), output: z.object({ items: z.array(Item) }) }),
    watch: query({ input: z.string(), output: z.number(), stream: 'server' }),
  },
  commands: { place: command({ input: Order, output: z.object({ ok: z.boolean(), any: z.unknown() }) }) },
});

describe('proto generation', () => {
  it('renders a proto3 service with methods, streams, nested messages, presence and maps', () => {
    const text = protoFile(Svc);
    expect(text).toContain('package catalog_x;');
    expect(text).toContain('service CatalogX {');
    expect(text).toContain('rpc Find (FindRequest) returns (FindResponse);');
    expect(text).toContain('rpc Watch (WatchRequest) returns (stream WatchResponse);');
    expect(text).toContain('repeated int64 ids = 1;');
    expect(text).toContain('map<string, double> tags = 2;');
    expect(text).toContain('repeated FindResponse_Items items = 1;');
    expect(text).toContain('oneof _ok { bool ok = 4; }');
    expect(text).toContain('oneof _note { string note = 5; }');
    expect(text).toContain('string any = 2; // JSON');
    expect(protoService(Svc).methods.map((m) => m.path)).toEqual(['/catalog_x.CatalogX/Find', '/catalog_x.CatalogX/Watch', '/catalog_x.CatalogX/Place']);
  });
});

describe('codec', () => {
  const find = protoService(Svc).methods[0]!;
  it('round-trips the 1 KB order exactly, smaller than its JSON', () => {
    const codec = messageCodec(protoService(Svc).methods[2]!.request);
    const order = sampleOrder();
    const bytes = codec.encode(order);
    expect(bytes.length).toBeLessThan(JSON.stringify(order).length);
    expect(codec.decode(bytes)).toEqual(order);
  });

  it('property: any value of the schema round-trips (negative int64, unicode, maps, nulls)', () => {
    const req = messageCodec(find.request);
    const res = messageCodec(find.response);
    const item = fc.record(
      {
        name: fc.string({ unit: 'grapheme' }),
        n: fc.maxSafeInteger(),
        price: fc.double({ noNaN: true }),
        ok: fc.boolean(),
        note: fc.option(fc.string(), { nil: null }),
      },
      { requiredKeys: ['name', 'n', 'price', 'note'] },
    );
    fc.assert(
      fc.property(fc.array(fc.maxSafeInteger()), fc.dictionary(fc.string(), fc.double({ noNaN: true })), fc.array(item), (ids, tags, items) => {
        expect(req.decode(req.encode({ ids, tags }))).toEqual({ ids, tags });
        const decoded = res.decode(res.encode({ items })) as { items: unknown[] };
        expect(decoded.items).toEqual(items.map((i) => ({ ...i })));
      }),
      { numRuns: 200 },
    );
  });

  it('a wrong-typed value fails with the path', () => {
    const req = messageCodec(find.request);
    expect(() => req.encode({ ids: [1, 1.5], tags: {} }, 'input of x')).toThrow(ValidationError);
    expect(() => req.encode({ ids: [1, 1.5], tags: {} })).toThrow(/ids\[1\]/);
  });

  it('malformed bytes are BadRequestError, never a crash', () => {
    const res = messageCodec(find.response);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          res.decode(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(BadRequestError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('frames split across chunks are reassembled; an oversized length is refused before reading', () => {
    const codec = messageCodec(find.request);
    const frame = codec.encodeFrame({ ids: [1, 2, 3], tags: { a: 1 } });
    const got: unknown[] = [];
    const reader = new FrameReader(1024, (m) => got.push(codec.decode(m)));
    const both = Buffer.concat([frame, frame]);
    for (let i = 0; i < both.length; i += 3) reader.push(both.subarray(i, i + 3));
    expect(got).toEqual([{ ids: [1, 2, 3], tags: { a: 1 } }, { ids: [1, 2, 3], tags: { a: 1 } }]);
    const big = Buffer.from([0, 0, 1, 0, 0]);
    expect(() => new FrameReader(1024, () => {}).push(big)).toThrow(/1024/);
  });
});
