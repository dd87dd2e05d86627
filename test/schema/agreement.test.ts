import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compile } from '../../src/schema/compile.js';
import { Order, sampleOrder } from './order-schema.js';

/**
 * The compiled path must give zod's verdict. For pure schemas, `validator.is(v)` is compared with
 * `schema.safeParse(v).success` on generated values: near-misses of a realistic order, arbitrary JSON, and
 * arbitrary JavaScript values (undefined, sparse arrays, NaN, -0, boxed values, null-prototype objects…).
 */

/** The real order with one field replaced by something arbitrary, or removed. */
function mutatedOrders(): fc.Arbitrary<unknown> {
  const paths: Array<Array<string | number>> = [
    ['orderId'],
    ['customer'],
    ['customer', 'id'],
    ['customer', 'email'],
    ['customer', 'vip'],
    ['customer', 'name'],
    ['items'],
    ['items', 0],
    ['items', 0, 'qty'],
    ['items', 1, 'sku'],
    ['items', 1, 'name'],
    ['items', 2, 'tags'],
    ['items', 2, 'tags', 1],
    ['items', 0, 'giftWrap'],
    ['items', 0, 'unitPriceCents'],
    ['shipping', 'country'],
    ['shipping', 'postcode'],
    ['shipping', 'line2'],
    ['billing'],
    ['billing', 'line1'],
    ['currency'],
    ['totalCents'],
    ['placedAt'],
    ['notes'],
    ['couponCodes'],
    ['couponCodes', 0],
    ['channel'],
    ['extra-key'],
  ];
  const near = fc.constantFrom<unknown>(
    -1, 0, 1, 1.5, 1000, 1001, 2 ** 53, Number.NaN, Infinity, -0, '', 'A', 'GB', 'GBR', 'EUR', 'gbp', 'web',
    'ABC-1234', 'ABC-123', 'abc-1234', 'NW1 6XE', 'nw1', '2026-02-29T10:15:30Z', '2024-02-29T10:15:30Z',
    '2026-11-22T10:15:30+01:00', '2026-11-22 10:15:30Z', 'ada@example.com', 'ada@example', 'a.@x.io',
    '0190f5c2-7b1e-7c3a-9a4e-2f6d8b1c3e5a', '0190f5c2-7b1e-9c3a-9a4e-2f6d8b1c3e5a', '00000000-0000-0000-0000-000000000000',
    'x'.repeat(101), 'x'.repeat(500), 'x'.repeat(501), '😀'.repeat(20), '😀'.repeat(21), null, undefined, [], [[]], {}, true, false,
    ['WINTER10'], Array(6).fill('A'), Array(11).fill('t'),
  );
  const candidate = fc.oneof(near, fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 40 }), fc.integer(), fc.double());
  return fc.tuple(fc.constantFrom(...paths), candidate, fc.boolean(), fc.boolean()).map(([path, value, remove, twice]) => {
    const order: any = JSON.parse(JSON.stringify(sampleOrder()));
    const edit = (p: Array<string | number>) => {
      let target = order;
      for (const key of p.slice(0, -1)) target = target[key];
      const last = p[p.length - 1]!;
      if (remove) delete target[last];
      else target[last] = value;
    };
    edit(path);
    if (twice) edit(paths[(paths.indexOf(path) * 7 + 3) % paths.length]!);
    return order;
  });
}

const anyValue = fc.anything({
  maxDepth: 3,
  withBoxedValues: true,
  withNullPrototype: true,
  withSparseArray: true,
  withObjectString: true,
});

function agrees(schema: z.ZodType, values: fc.Arbitrary<unknown>, numRuns = 400): void {
  const v = compile(schema);
  expect(v.compiled).toBe(true);
  fc.assert(
    fc.property(values, (value) => {
      expect(v.is(value)).toBe(schema.safeParse(value).success);
    }),
    { numRuns },
  );
}

describe('compiled validation agrees with zod', () => {
  it('on near-misses of a realistic ~1 KB order', () => {
    agrees(Order, mutatedOrders(), 3000);
  });

  it('on arbitrary values against the order schema and its parts', () => {
    agrees(Order, anyValue, 300);
    agrees(Order.shape.items, fc.array(fc.record({ sku: fc.constantFrom('ABC-1234', 'AB-1'), name: fc.string(), qty: fc.integer({ min: -2, max: 1002 }), unitPriceCents: fc.integer(), tags: fc.array(fc.string({ maxLength: 40 }), { maxLength: 12 }) }, { requiredKeys: ['sku', 'name', 'qty'] }), { maxLength: 3 }));
  });

  const small: Array<[string, z.ZodType]> = [
    ['object with bounds and optional', z.object({ a: z.string().min(2).max(5), b: z.number().int().optional() })],
    ['array of union', z.array(z.union([z.string(), z.number().positive()])).max(3)],
    ['discriminated union', z.discriminatedUnion('kind', [z.object({ kind: z.literal('a'), x: z.number() }), z.object({ kind: z.literal('b'), y: z.string().optional() })])],
    ['exclusive union (oneOf)', z.xor([z.string(), z.number()])],
    ['overlapping xor', z.xor([z.number().int(), z.number().min(0)])],
    ['record', z.record(z.string(), z.boolean())],
    ['record with enum keys', z.record(z.enum(['a', 'b']), z.number())],
    ['record with bounded keys', z.record(z.string().min(2), z.number())],
    ['tuple', z.tuple([z.string(), z.number()])],
    ['tuple with rest', z.tuple([z.string()], z.number())],
    ['nullable enum', z.enum(['x', 'y']).nullable()],
    ['literals', z.literal(['a', 3, true, null])],
    ['strict object', z.strictObject({ a: z.number() })],
    ['loose object', z.looseObject({ a: z.number() })],
    ['catchall', z.object({ a: z.number() }).catchall(z.string())],
    ['intersection', z.intersection(z.object({ a: z.string() }), z.object({ b: z.number() }))],
    ['unknown and any properties', z.object({ u: z.unknown(), a: z.any(), n: z.null() })],
    ['nullable optional', z.object({ a: z.string().nullable().optional(), b: z.number().nullable() })],
    ['decimal multipleOf', z.number().multipleOf(0.1)],
    ['integer multipleOf', z.number().int().multipleOf(5)],
    ['exclusive bounds', z.number().gt(-1.5).lt(2.5)],
    ['int32', z.int32()],
    ['string formats', z.object({ e: z.email(), u: z.uuid(), d: z.iso.date(), t: z.iso.time(), ip: z.ipv4(), h: z.hex() })],
    ['string checks', z.string().lowercase().startsWith('ab').endsWith('z').includes('$')],
    ['length', z.string().length(2)],
    ['template literal', z.templateLiteral(['id-', z.number()])],
    ['never property', z.object({ a: z.never().optional() })],
    ['readonly', z.object({ a: z.array(z.number()).readonly() })],
    ['nested arrays', z.array(z.array(z.number().int().nonnegative()).min(1)).max(4)],
    ['prototype-named keys', z.object({ constructor: z.string(), toString: z.number().optional(), ['__proto__']: z.string().optional() })],
  ];

  for (const [name, schema] of small) {
    it(`on arbitrary JSON and JavaScript values: ${name}`, () => {
      agrees(schema, fc.oneof(fc.jsonValue({ maxDepth: 3 }), anyValue), 400);
    });
  }

  it('on strings near the formats', () => {
    const schema = z.object({ e: z.email(), u: z.uuid(), dt: z.iso.datetime({ offset: true }), d: z.iso.date() });
    const chars = fc.constantFrom(...'0123456789abcdefABF-:.@+_TZ '.split(''));
    const near = fc.oneof(fc.string({ unit: chars, maxLength: 40 }), fc.constantFrom('2024-02-29', '2023-02-29', '2026-11-22T10:15:30.5+05:30', 'a@b.co', 'a@b.c'));
    agrees(schema, fc.record({ e: near, u: near, dt: near, d: near }), 1000);
  });

  it('on decimal multiples', () => {
    agrees(z.number().multipleOf(0.01), fc.oneof(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), fc.integer({ min: -10000, max: 10000 }).map((n) => n / 100)), 2000);
  });

  it('on recursive schemas', () => {
    type Tree = { value: number; children: Tree[] };
    const Tree: z.ZodType<Tree> = z.object({
      value: z.number(),
      get children() {
        return z.array(Tree);
      },
    });
    const tree: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      node: fc.record({
        value: fc.oneof(fc.integer(), fc.string()),
        children: fc.oneof({ maxDepth: 3, depthIdentifier: 'tree' }, fc.constant([]), fc.array(tie('node'), { maxLength: 3 })),
      }),
    })).node;
    agrees(Tree, fc.oneof(tree, anyValue), 500);
  });
});
