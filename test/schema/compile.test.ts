import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../src/core/errors.js';
import { compile } from '../../src/schema/compile.js';
import { Order, sampleOrder } from './order-schema.js';

/** Values near the order's shape: the real order with one field replaced by something arbitrary. */
function mutatedOrders(): fc.Arbitrary<unknown> {
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  const paths: Array<Array<string | number>> = [
    ['orderId'],
    ['customer', 'email'],
    ['customer', 'vip'],
    ['items'],
    ['items', 0, 'qty'],
    ['items', 1, 'sku'],
    ['items', 2, 'tags'],
    ['shipping', 'country'],
    ['billing'],
    ['currency'],
    ['totalCents'],
    ['placedAt'],
    ['notes'],
    ['couponCodes', 0],
    ['channel'],
    ['items', 0, 'unitPriceCents'],
  ];
  const candidates = fc.oneof(
    anyJson,
    fc.constantFrom(-1, 0, 1.5, 1001, 2 ** 53, '', 'ABC-1234', 'GB', 'GBR', 'EUR', 'gbp', null, [], {}, true),
    fc.string({ maxLength: 30 }),
    fc.integer(),
  );
  return fc.tuple(fc.constantFrom(...paths), candidates, fc.boolean()).map(([path, value, remove]) => {
    const order: any = JSON.parse(JSON.stringify(sampleOrder()));
    let target = order;
    for (const key of path.slice(0, -1)) target = target[key];
    const last = path[path.length - 1]!;
    if (remove) delete target[last];
    else target[last] = value;
    return order;
  });
}

describe('compile(): the compiled fast path', () => {
  const validator = compile(Order);

  it('compiles a pure zod schema and accepts the sample order', () => {
    expect(validator.compiled).toBe(true);
    const order = JSON.parse(JSON.stringify(sampleOrder()));
    expect(validator.validate(order)).toBe(order);
  });

  it('agrees with zod on mutated orders (property)', () => {
    fc.assert(
      fc.property(mutatedOrders(), (order) => {
        expect(validator.is(order)).toBe(Order.safeParse(order).success);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with zod on arbitrary JSON for small schemas (property)', () => {
    const schemas: Array<z.ZodType> = [
      z.object({ a: z.string().min(2), b: z.number().int().optional() }),
      z.array(z.union([z.string(), z.number().positive()])).max(3),
      z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('a'), x: z.number() }),
        z.object({ kind: z.literal('b') }),
      ]),
      z.record(z.string(), z.boolean()),
      z.tuple([z.string(), z.number()]),
      z.enum(['x', 'y']).nullable(),
    ];
    for (const schema of schemas) {
      const v = compile(schema);
      expect(v.compiled).toBe(true);
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
          expect(v.is(value)).toBe(schema.safeParse(value).success);
        }),
        { numRuns: 500 },
      );
    }
  });

  it('names the path of the failing value in a ValidationError', () => {
    const bad: any = JSON.parse(JSON.stringify(sampleOrder()));
    bad.items[2].qty = 'three';
    const error = (() => {
      try {
        validator.validate(bad, 'input of orders.place');
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toEqual(['items', 2, 'qty']);
    expect((error as ValidationError).message).toMatch(/input of orders\.place at items\[2\]\.qty/);
  });

  it('names a missing required property', () => {
    const bad: any = JSON.parse(JSON.stringify(sampleOrder()));
    delete bad.customer.email;
    expect(() => validator.validate(bad)).toThrow(ValidationError);
    try {
      validator.validate(bad);
    } catch (e) {
      expect((e as ValidationError).path).toEqual(['customer', 'email']);
    }
  });

  it('does not let a __proto__ key pollute prototypes', () => {
    const v = compile(z.object({ a: z.number() }));
    const hostile = JSON.parse('{"a": 1, "__proto__": {"polluted": true}}');
    expect(v.is(hostile)).toBe(true);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('caches one validator per schema object', () => {
    expect(compile(Order)).toBe(validator);
  });
});

describe('compile(): the fallback for schemas JSON Schema cannot express', () => {
  it('uses the schema itself for transforms and returns the transformed value', () => {
    const v = compile(z.object({ name: z.string().trim().toLowerCase(), n: z.string().transform(Number) }));
    expect(v.compiled).toBe(false);
    expect(v.validate({ name: '  ADA ', n: '42' })).toEqual({ name: 'ada', n: 42 });
  });

  it('applies defaults', () => {
    const v = compile(z.object({ qty: z.number().default(1) }));
    expect(v.compiled).toBe(false);
    expect(v.validate({})).toEqual({ qty: 1 });
  });

  it('enforces refinements and reports their path', () => {
    const v = compile(
      z.object({
        range: z
          .object({ lo: z.number(), hi: z.number() })
          .refine((r) => r.lo <= r.hi, { message: 'lo > hi', path: ['lo'] }),
      }),
    );
    expect(v.compiled).toBe(false);
    expect(v.is({ range: { lo: 1, hi: 2 } })).toBe(true);
    try {
      v.validate({ range: { lo: 3, hi: 2 } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).path).toEqual(['range', 'lo']);
    }
  });

  it('supports asynchronous schemas through validateAsync only', async () => {
    const v = compile(z.string().refine(async (s) => s.length > 1));
    await expect(v.validateAsync('ok')).resolves.toBe('ok');
    await expect(v.validateAsync('x')).rejects.toBeInstanceOf(ValidationError);
    expect(() => v.validate('ok')).toThrow(/validateAsync/);
  });
});
