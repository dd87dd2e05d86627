import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { command, event, query, service, type Implementation } from '../../src/core/contract.js';
import type { Context } from '../../src/core/context.js';

const Inventory = service('inventory', {
  queries: { stock: query({ input: z.object({ sku: z.string() }), output: z.object({ available: z.number() }) }) },
  commands: {
    reserve: command({
      input: z.object({ sku: z.string(), qty: z.number().int().positive() }),
      output: z.object({ reservationId: z.string() }),
      idempotent: true,
      http: { method: 'PUT', path: '/reservations' },
    }),
  },
  events: {
    ItemReserved: event(z.object({ sku: z.string(), qty: z.number() })),
    StockLow: event(z.object({ sku: z.string() }), { type: 'com.example.stock-low', version: 2 }),
  },
});

describe('service()', () => {
  it('names every operation and event after its key and its service', () => {
    expect(Inventory.queries.stock.name).toBe('stock');
    expect(Inventory.queries.stock.service).toBe('inventory');
    expect(Inventory.commands.reserve.name).toBe('reserve');
    expect(Inventory.events.ItemReserved.name).toBe('ItemReserved');
    expect(Inventory.events.ItemReserved.service).toBe('inventory');
  });

  it('derives the CloudEvents type from service and event name unless one is given', () => {
    expect(Inventory.events.ItemReserved.type).toBe('inventory.ItemReserved');
    expect(Inventory.events.StockLow.type).toBe('com.example.stock-low');
    expect(Inventory.events.StockLow.version).toBe(2);
  });

  it('marks queries idempotent and keeps per-operation options', () => {
    expect(Inventory.queries.stock.idempotent).toBe(true);
    expect(Inventory.commands.reserve.idempotent).toBe(true);
    expect(Inventory.commands.reserve.http).toEqual({ method: 'PUT', path: '/reservations' });
    expect(Inventory.queries.stock.kind).toBe('query');
    expect(Inventory.commands.reserve.kind).toBe('command');
  });

  it('lists queries and commands together in operations', () => {
    expect(Object.keys(Inventory.operations).sort()).toEqual(['reserve', 'stock']);
    expect(Inventory.operations['reserve']).toBe(Inventory.commands.reserve);
  });

  it('is frozen: a contract cannot be changed after declaration', () => {
    expect(Object.isFrozen(Inventory)).toBe(true);
    expect(Object.isFrozen(Inventory.commands.reserve)).toBe(true);
  });

  it('rejects invalid and clashing names', () => {
    const s = z.object({});
    expect(() => service('bad name', {})).toThrow(/service name/);
    expect(() => service('svc', { queries: { 'no spaces': query({ input: s, output: s }) } })).toThrow(/operation name/);
    expect(() =>
      service('svc', { queries: { dup: query({ input: s, output: s }) }, commands: { dup: command({ input: s, output: s }) } }),
    ).toThrow(/declared twice/);
    expect(() => service('svc', { events: { '1st': event(s) } })).toThrow(/event name/);
  });

  it('types an implementation from the contract', () => {
    const impl = {
      stock: async (input: { sku: string }, _ctx: Context) => ({ available: input.sku.length }),
      reserve: async (input: { sku: string; qty: number }) => ({ reservationId: `${input.sku}-${input.qty}` }),
    } satisfies Implementation<typeof Inventory>;
    expectTypeOf(impl.stock).returns.resolves.toEqualTypeOf<{ available: number }>();
  });
});
