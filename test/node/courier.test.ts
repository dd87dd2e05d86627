import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { memoryBroker } from '../../src/async/memory/index.js';
import { command, event, query, service } from '../../src/core/contract.js';
import { Context } from '../../src/core/context.js';
import { DeadlineExceededError, TimeoutError, ValidationError } from '../../src/core/errors.js';
import { type CourierNode, NotImplementedError, courier } from '../../src/node/index.js';
import { retry, timeout } from '../../src/policies/index.js';
import { waitFor } from '../../src/testing/index.js';

const Inventory = service('inventory', {
  queries: {
    stock: query({ input: z.object({ sku: z.string() }), output: z.object({ available: z.number().int() }) }),
  },
  commands: {
    reserve: command({
      input: z.object({ sku: z.string(), qty: z.number().int().positive() }),
      output: z.object({ reservationId: z.string() }),
    }),
  },
  events: { ItemReserved: event(z.object({ sku: z.string(), qty: z.number().int() })) },
});

let node: CourierNode;
afterEach(async () => node?.close());

describe('courier() node', () => {
  it('serves a contract to a typed client and validates both ways', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    let badOutput = false;
    node.implement(Inventory, {
      stock: async ({ sku }) => (badOutput ? ({ available: 'lots' } as never) : { available: sku.length }),
      reserve: async ({ sku, qty }) => ({ reservationId: `${sku}x${qty}` }),
    });
    const inventory = node.client(Inventory);
    await expect(inventory.stock({ sku: 'abc' })).resolves.toEqual({ available: 3 });
    await expect(inventory.reserve({ sku: 'abc', qty: 2 })).resolves.toEqual({ reservationId: 'abcx2' });
    const badInput = await inventory.reserve({ sku: 'abc', qty: 0 }).catch((e: unknown) => e);
    expect(badInput).toBeInstanceOf(ValidationError);
    expect((badInput as ValidationError).path).toEqual(['qty']);
    badOutput = true;
    await expect(inventory.stock({ sku: 'x' })).rejects.toThrow(/output of inventory\.stock/);
  });

  it('gives the handler the remaining deadline and never starts work whose deadline passed', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    const seen: number[] = [];
    let calls = 0;
    node.implement(Inventory, {
      stock: async (_q, ctx) => {
        calls++;
        seen.push(ctx.remaining());
        return { available: 1 };
      },
      reserve: async () => ({ reservationId: 'r' }),
    });
    const inventory = node.client(Inventory);
    await inventory.stock({ sku: 'a' }, { timeoutMs: 200 });
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[0]).toBeLessThanOrEqual(200);
    const expired = Context.background.withDeadline(Date.now() - 1);
    await expect(inventory.stock({ sku: 'a' }, { ctx: expired })).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    expect(calls).toBe(1);
  });

  it('applies client policies: a hung handler times out and the handler sees the cancellation', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    let cancelled = false;
    node.implement(Inventory, {
      stock: (_q, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.cancel.onCancel((reason) => {
            cancelled = true;
            reject(reason instanceof Error ? reason : new Error(String(reason)));
          });
        }),
      reserve: async () => ({ reservationId: 'r' }),
    });
    const inventory = node.client(Inventory, { policy: [timeout(30)] });
    await expect(inventory.stock({ sku: 'a' })).rejects.toBeInstanceOf(TimeoutError);
    expect(cancelled).toBe(true);
  });

  it('retries through the client policy until the provider succeeds', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    let calls = 0;
    node.implement(Inventory, {
      stock: async () => {
        if (++calls < 3) throw new Error('transient');
        return { available: 9 };
      },
      reserve: async () => ({ reservationId: 'r' }),
    });
    const inventory = node.client(Inventory, { policy: [retry({ attempts: 3, baseMs: 1, maxMs: 2 })] });
    await expect(inventory.stock({ sku: 'a' })).resolves.toEqual({ available: 9 });
    expect(calls).toBe(3);
  });

  it('refuses a second implementation, a missing handler, and calls to nothing', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    expect(() => node.implement(Inventory, { stock: async () => ({ available: 1 }) } as never)).toThrow(
      /lacks "reserve"/,
    );
    await expect(node.client(Inventory).stock({ sku: 'a' })).rejects.toBeInstanceOf(NotImplementedError);
    const impl = { stock: async () => ({ available: 1 }), reserve: async () => ({ reservationId: 'r' }) };
    node.implement(Inventory, impl);
    expect(() => node.implement(Inventory, impl)).toThrow(/implemented twice/);
  });

  it('publishes contract events and consumes them in a group, with the caller context carried', async () => {
    node = courier({ name: 'shop', broker: memoryBroker() });
    const got: Array<{ payload: unknown; correlationId: string | undefined }> = [];
    await node.on(Inventory.events.ItemReserved, { group: 'email' }, async (payload, ctx) => {
      got.push({ payload, correlationId: ctx.correlationId });
    });
    await node.publish(
      Inventory.events.ItemReserved,
      { sku: 's', qty: 2 },
      { ctx: Context.background.with({ correlationId: 'c-1' }) },
    );
    await waitFor(() => got.length === 1, 'the event');
    expect(got[0]).toEqual({ payload: { sku: 's', qty: 2 }, correlationId: 'c-1' });
  });
});
