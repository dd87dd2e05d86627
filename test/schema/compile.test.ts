import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../src/core/errors.js';
import { compile } from '../../src/schema/compile.js';
import { Order, sampleOrder } from './order-schema.js';

function order(): any {
  return JSON.parse(JSON.stringify(sampleOrder()));
}

function failure(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('compile(): the compiled fast path', () => {
  const validator = compile(Order);

  it('compiles a pure zod schema and returns the very same valid object', () => {
    expect(validator.compiled).toBe(true);
    const value = order();
    expect(validator.validate(value)).toBe(value);
    expect(validator.is(value)).toBe(true);
  });

  it('accepts unknown keys and passes them through (zod would strip them)', () => {
    const value = { ...order(), trackingHint: 'x' };
    expect(validator.validate(value)).toHaveProperty('trackingHint', 'x');
    expect(Order.safeParse(value).data).not.toHaveProperty('trackingHint');
  });

  it('caches one validator per schema object', () => {
    expect(compile(Order)).toBe(validator);
  });

  it('exposes the JSON Schema it validates', () => {
    expect(validator.jsonSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['orderId', 'items']) });
  });
});

describe('ValidationError from the compiled path', () => {
  const validator = compile(Order);

  it('names the failing value, what was expected and what came', () => {
    const bad = order();
    bad.items[2].qty = 'three';
    const error = failure(() => validator.validate(bad, 'input of orders.place'));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.path).toEqual(['items', 2, 'qty']);
    expect(error.issues).toEqual([{ path: ['items', 2, 'qty'], message: 'expected integer, got string' }]);
    expect(error.message).toBe('invalid input of orders.place at items[2].qty: expected integer, got string');
  });

  it('shows a rejected number', () => {
    const bad = order();
    bad.items[0].qty = 1.5;
    expect(failure(() => validator.validate(bad)).issues[0]).toEqual({ path: ['items', 0, 'qty'], message: 'expected integer, got 1.5' });
    bad.items[0].qty = 1001;
    expect(failure(() => validator.validate(bad)).issues[0]!.message).toBe('expected ≤ 1000, got 1001');
  });

  it('names a missing required property', () => {
    const bad = order();
    delete bad.customer.email;
    expect(failure(() => validator.validate(bad)).issues[0]).toEqual({ path: ['customer', 'email'], message: 'is required' });
  });

  it('treats a property holding undefined as missing', () => {
    const bad = order();
    bad.currency = undefined;
    expect(failure(() => validator.validate(bad)).path).toEqual(['currency']);
  });

  it('explains enums, formats, lengths and array bounds', () => {
    const cases: Array<[(o: any) => void, Array<string | number>, string]> = [
      [(o) => (o.currency = 'JPY'), ['currency'], 'expected one of "EUR", "USD", "GBP", got "JPY"'],
      [(o) => (o.customer.email = 'ada@'), ['customer', 'email'], 'not a valid email'],
      [(o) => (o.orderId = 'nope'), ['orderId'], 'not a valid uuid'],
      [(o) => (o.placedAt = '2026-02-30T10:00:00Z'), ['placedAt'], 'not a valid date-time'],
      [(o) => (o.shipping.country = 'GBR'), ['shipping', 'country'], 'expected at most 2 characters'],
      [(o) => (o.items = []), ['items'], 'expected at least 1 items, got 0'],
      [(o) => (o.items[1].tags[1] = 7), ['items', 1, 'tags', 1], 'expected string, got number'],
      [(o) => (o.items[1].sku = 'abc'), ['items', 1, 'sku'], 'does not match the pattern ^[A-Z]{3}-\\d{4,8}$'],
      [(o) => (o.customer = []), ['customer'], 'expected object, got array'],
    ];
    for (const [edit, path, message] of cases) {
      const bad = order();
      edit(bad);
      expect(failure(() => validator.validate(bad)).issues[0]).toEqual({ path, message });
    }
  });

  it('explains a nullable object by the branch the value was meant for', () => {
    const bad = order();
    bad.billing.line1 = 5;
    expect(failure(() => validator.validate(bad)).issues[0]).toEqual({ path: ['billing', 'line1'], message: 'expected string, got number' });
    bad.billing = 'none';
    expect(failure(() => validator.validate(bad)).issues[0]).toEqual({ path: ['billing'], message: 'expected object or null, got string' });
  });

  it('explains a discriminated union by its tag', () => {
    const Event = z.discriminatedUnion('type', [
      z.object({ type: z.literal('placed'), orderId: z.string() }),
      z.object({ type: z.literal('shipped'), carrier: z.enum(['ups', 'dhl']) }),
    ]);
    const v = compile(Event);
    expect(failure(() => v.validate({ type: 'shipped', carrier: 'fedex' })).issues[0]).toEqual({
      path: ['carrier'],
      message: 'expected one of "ups", "dhl", got "fedex"',
    });
    expect(failure(() => v.validate({ type: 'lost' })).issues[0]).toEqual({
      path: ['type'],
      message: 'expected one of "placed", "shipped", got "lost"',
    });
  });

  it('reports the root when the value is not even an object', () => {
    const error = failure(() => validator.validate(null, 'payload of orders.OrderPlaced'));
    expect(error.path).toEqual([]);
    expect(error.message).toBe('invalid payload of orders.OrderPlaced: expected object, got null');
  });

  it('rejects through validateAsync with the same error', async () => {
    await expect(validator.validateAsync({})).rejects.toBeInstanceOf(ValidationError);
    const value = order();
    await expect(validator.validateAsync(value)).resolves.toBe(value);
  });
});

describe('compile() and hostile input', () => {
  it('does not let a __proto__ key pollute prototypes or stand in for a property', () => {
    const v = compile(z.object({ a: z.number(), ['__proto__']: z.string().optional() }));
    expect(v.compiled).toBe(true);
    const hostile = JSON.parse('{"a": 1, "__proto__": {"polluted": true}}');
    expect(v.is(hostile)).toBe(false); // __proto__ must be a string here
    expect(v.is(JSON.parse('{"a": 1, "__proto__": "fine"}'))).toBe(true);
    expect(v.is({ a: 1 })).toBe(true); // the inherited Object.prototype is not a __proto__ property
    expect(({} as any).polluted).toBeUndefined();
    const loose = compile(z.record(z.string(), z.unknown()));
    expect(loose.is(hostile)).toBe(true);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('does not read inherited Object.prototype members as properties', () => {
    const v = compile(z.object({ constructor: z.string().optional(), toString: z.string().optional() }));
    expect(v.is({})).toBe(true);
    expect(v.is({ toString: 5 })).toBe(false);
  });
});

describe('compile(): the fallback for schemas JSON Schema cannot express', () => {
  it('uses the schema itself for transforms and returns the transformed value', () => {
    const v = compile(z.object({ name: z.string().trim().toLowerCase(), n: z.string().transform(Number) }));
    expect(v.compiled).toBe(false);
    expect(v.validate({ name: '  ADA ', n: '42' })).toEqual({ name: 'ada', n: 42 });
  });

  it('applies defaults', () => {
    const v = compile(z.object({ qty: z.number().default(1), tags: z.array(z.string()).prefault([]) }));
    expect(v.compiled).toBe(false);
    expect(v.validate({})).toEqual({ qty: 1, tags: [] });
  });

  it('enforces refinements and reports their path', () => {
    const v = compile(
      z.object({
        range: z.object({ lo: z.number(), hi: z.number() }).refine((r) => r.lo <= r.hi, { message: 'lo > hi', path: ['lo'] }),
      }),
    );
    expect(v.compiled).toBe(false);
    expect(v.is({ range: { lo: 1, hi: 2 } })).toBe(true);
    const error = failure(() => v.validate({ range: { lo: 3, hi: 2 } }, 'input of ranges.set'));
    expect(error.path).toEqual(['range', 'lo']);
    expect(error.message).toBe('invalid input of ranges.set at range.lo: lo > hi');
  });

  it('falls back for coercion, preprocess, pipes, url checks and flagged regexes, and stays correct', () => {
    const cases: Array<[z.ZodType, unknown, boolean]> = [
      [z.coerce.number(), '12', true],
      [z.preprocess((v) => (typeof v === 'string' ? v.trim() : v), z.string().min(2)), ' a ', false],
      [z.string().pipe(z.email()), 'ada@example.com', true],
      [z.url(), 'not a url', false],
      [z.url(), 'https://example.com/x', true],
      [z.string().regex(/^abc$/i), 'ABC', true],
      [z.array(z.string().optional()), ['a', undefined], true],
      [z.record(z.number(), z.string()), { 1: 'x' }, true],
      [z.date(), new Date(0), true],
      [z.bigint(), 1n, true],
    ];
    for (const [schema, value, valid] of cases) {
      const v = compile(schema);
      expect(v.compiled).toBe(false);
      expect(v.is(value)).toBe(valid);
      expect(v.is(value)).toBe(schema.safeParse(value).success);
    }
  });

  it('supports asynchronous schemas through validateAsync only', async () => {
    const v = compile(z.string().refine(async (s) => s.length > 1, 'too short'));
    await expect(v.validateAsync('ok')).resolves.toBe('ok');
    await expect(v.validateAsync('x')).rejects.toThrow(/too short/);
    expect(() => v.validate('ok')).toThrow(/asynchronously: use validateAsync/);
    expect(() => v.is('ok')).toThrow(/validateAsync/);
  });

  it('uses a non-zod Standard Schema through its own validate', () => {
    const even = {
      '~standard': {
        version: 1 as const,
        vendor: 'custom',
        validate: (v: unknown) =>
          typeof v === 'number' && v % 2 === 0 ? { value: v } : { issues: [{ message: 'expected an even number', path: [{ key: 'n' }] }] },
      },
    };
    const v = compile(even);
    expect(v.compiled).toBe(false);
    expect(v.validate(4)).toBe(4);
    expect(failure(() => v.validate(3)).issues).toEqual([{ path: ['n'], message: 'expected an even number' }]);
  });
});
