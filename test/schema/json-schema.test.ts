import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { command, event, query, service } from '../../src/core/contract.js';
import { contractJsonSchema, toJsonSchema } from '../../src/schema/json-schema.js';

describe('JSON Schema export', () => {
  it('exports a zod schema as draft 2020-12 JSON Schema', () => {
    const schema = toJsonSchema(z.object({ sku: z.string(), qty: z.number().int().min(1) }));
    expect(schema).toMatchObject({
      type: 'object',
      properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
      required: ['sku', 'qty'],
    });
  });

  it('uses the JSON Schema a non-zod Standard Schema brings with it', () => {
    const own = { type: 'string', minLength: 3 };
    const schema = {
      '~standard': { version: 1, vendor: 'custom', validate: (v: unknown) => ({ value: v }) },
      jsonSchema: own,
    };
    expect(toJsonSchema(schema as any)).toBe(own);
  });

  it('describes every operation and event of a contract', () => {
    const Svc = service('orders', {
      queries: {
        get: query({ input: z.object({ id: z.string() }), output: z.object({ total: z.number() }) }),
      },
      commands: {
        place: command({ input: z.object({ sku: z.string() }), output: z.object({ id: z.string() }) }),
      },
      events: { OrderPlaced: event(z.object({ id: z.string() })) },
    });
    const out = contractJsonSchema(Svc);
    expect(out.service).toBe('orders');
    expect(out.operations['get']).toMatchObject({
      kind: 'query',
      input: { properties: { id: { type: 'string' } } },
    });
    expect(out.operations['place']).toMatchObject({ kind: 'command', output: { required: ['id'] } });
    expect(out.events['OrderPlaced']).toMatchObject({
      type: 'orders.OrderPlaced',
      payload: { type: 'object' },
    });
  });
});
