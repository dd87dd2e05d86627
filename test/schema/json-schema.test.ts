import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { command, event, query, service } from '../../src/core/contract.js';
import { ValidationError } from '../../src/core/errors.js';
import { UnsupportedSchemaError } from '../../src/schema/codegen.js';
import { compile } from '../../src/schema/compile.js';
import { fromJsonSchema } from '../../src/schema/from-json-schema.js';
import { contractJsonSchema, exactJsonSchema, toJsonSchema } from '../../src/schema/json-schema.js';

describe('toJsonSchema()', () => {
  it('exports a zod schema as draft 2020-12 JSON Schema', () => {
    const schema = toJsonSchema(z.object({ sku: z.string(), qty: z.number().int().min(1) }));
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
      required: ['sku', 'qty'],
    });
  });

  it('describes input (defaults optional) and output (defaults present, objects open unless strict)', () => {
    const schema = z.object({ qty: z.number().default(1), inner: z.strictObject({ a: z.string() }) });
    const input = toJsonSchema(schema, { io: 'input' })!;
    const output = toJsonSchema(schema, { io: 'output' })!;
    expect(input['required']).toEqual(['inner']);
    expect(output['required']).toEqual(['qty', 'inner']);
    expect(output).not.toHaveProperty('additionalProperties');
    expect(output).toMatchObject({ properties: { inner: { additionalProperties: false } } });
  });

  it('describes parts JSON Schema cannot express as anything, instead of failing', () => {
    expect(toJsonSchema(z.object({ at: z.date() }))).toMatchObject({ properties: { at: {} } });
  });

  it('uses what a non-zod schema brings: Standard JSON Schema, toJSONSchema(), or a jsonSchema property', () => {
    const own = { type: 'string', minLength: 3 };
    const validate = (v: unknown) => ({ value: v });
    const standard = { '~standard': { version: 1, vendor: 'x', validate, jsonSchema: { input: () => own, output: () => own } } };
    const method = { '~standard': { version: 1, vendor: 'x', validate }, toJSONSchema: () => own };
    const property = { '~standard': { version: 1, vendor: 'x', validate }, jsonSchema: own };
    const none = { '~standard': { version: 1, vendor: 'x', validate } };
    expect(toJsonSchema(standard as any)).toBe(own);
    expect(toJsonSchema(method as any)).toBe(own);
    expect(toJsonSchema(property as any)).toBe(own);
    expect(toJsonSchema(none as any)).toBeUndefined();
  });
});

describe('exactJsonSchema()', () => {
  it('is the validation-equivalent schema of a pure zod schema, and undefined otherwise', () => {
    expect(exactJsonSchema(z.object({ a: z.string() }))).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
      required: ['a'],
    });
    expect(exactJsonSchema(z.object({ a: z.string().default('x') }))).toBeUndefined();
    expect(exactJsonSchema(z.object({ at: z.date() }))).toBeUndefined();
  });

  it('marks records as plain-object only, as zod checks them', () => {
    expect(exactJsonSchema(z.record(z.string(), z.number()))).toMatchObject({ type: 'object', 'x-plain-object': true });
    const v = compile(z.record(z.string(), z.number()));
    expect(v.is({ a: 1 })).toBe(true);
    expect(v.is(new Date(0))).toBe(false);
  });
});

describe('fromJsonSchema()', () => {
  const Sku = fromJsonSchema<{ sku: string; qty: number }>({
    type: 'object',
    properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-\\d+$' }, qty: { type: 'integer', minimum: 1 }, at: { type: 'string', format: 'date' } },
    required: ['sku', 'qty'],
  });

  it('is a Standard Schema whose validate runs the compiled code', () => {
    expect(Sku['~standard'].validate({ sku: 'ABC-1', qty: 2 })).toEqual({ value: { sku: 'ABC-1', qty: 2 } });
    expect(Sku['~standard'].validate({ sku: 'ABC-1', qty: 0 })).toEqual({ issues: [{ path: ['qty'], message: 'expected ≥ 1, got 0' }] });
  });

  it('compiles to the same generated validator and exports itself unchanged', () => {
    const v = compile(Sku);
    expect(v.compiled).toBe(true);
    expect(v.is({ sku: 'ABC-1', qty: 1, at: '2024-02-29' })).toBe(true);
    expect(v.is({ sku: 'ABC-1', qty: 1, at: '2023-02-29' })).toBe(false);
    expect(() => v.validate({ sku: 'abc', qty: 1 })).toThrow(ValidationError);
    expect(toJsonSchema(Sku)).toBe(Sku.jsonSchema);
    expect(Sku['~standard'].jsonSchema.input({ target: 'draft-2020-12' })).toBe(Sku.jsonSchema);
  });

  it('fails at creation on keywords it cannot check', () => {
    expect(() => fromJsonSchema({ type: 'string', format: 'idn-email' })).toThrow(UnsupportedSchemaError);
  });
});

describe('contractJsonSchema()', () => {
  const Orders = service('orders', {
    queries: {
      get: query({ input: z.object({ id: z.uuid() }), output: z.object({ total: z.number(), status: z.enum(['open', 'paid']) }), description: 'one order' }),
    },
    commands: {
      place: command({
        input: z.object({ sku: z.string(), qty: z.number().int().default(1) }),
        output: z.object({ id: z.string(), at: z.date() }),
      }),
    },
    events: {
      OrderPlaced: event(z.object({ id: z.string(), total: z.number() }), { version: 2, description: 'an order was placed' }),
      OrderPaid: event(z.object({ id: z.string() }), { type: 'com.example.orders.paid' }),
    },
  });

  it('describes every operation and event of a small service', () => {
    const out = contractJsonSchema(Orders);
    expect(out.service).toBe('orders');
    expect(Object.keys(out.operations).sort()).toEqual(['get', 'place']);
    expect(out.operations['get']).toMatchObject({
      kind: 'query',
      description: 'one order',
      input: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] },
      output: { properties: { status: { enum: ['open', 'paid'] } }, required: ['total', 'status'] },
    });
    expect(out.operations['place']).toMatchObject({
      kind: 'command',
      input: { required: ['sku'], properties: { qty: { type: 'integer', default: 1 } } },
      output: { required: ['id', 'at'], properties: { at: {} } },
    });
    expect(out.events['OrderPlaced']).toEqual({
      type: 'orders.OrderPlaced',
      version: 2,
      description: 'an order was placed',
      payload: expect.objectContaining({ type: 'object', required: ['id', 'total'] }),
    });
    expect(out.events['OrderPaid']).toMatchObject({ type: 'com.example.orders.paid', version: 1, payload: { type: 'object' } });
  });

  it('is plain JSON', () => {
    const out = contractJsonSchema(Orders);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});
