import { z } from 'zod';
import type { Context } from '../../../src/core/context.js';
import { command, query, service } from '../../../src/core/contract.js';
import { CourierError } from '../../../src/core/errors.js';

/** The contract the gRPC tests serve: every call shape, a slow call and a failing call. */
export const Shop = service('shop', {
  queries: {
    stock: query({
      input: z.object({ sku: z.string().min(1) }),
      output: z.object({ sku: z.string(), qty: z.number().int(), corr: z.string() }),
    }),
    slow: query({ input: z.object({ ms: z.number().int() }), output: z.object({ cancelled: z.boolean() }) }),
    ticks: query({ input: z.object({ n: z.number().int() }), output: z.object({ i: z.number().int() }), stream: 'server' }),
  },
  commands: {
    fail: command({ input: z.object({ code: z.string() }), output: z.object({}) }),
    sum: command({ input: z.object({ v: z.number() }), output: z.object({ total: z.number() }), stream: 'client' }),
    echo: command({ input: z.object({ s: z.string() }), output: z.object({ s: z.string() }), stream: 'bidi' }),
  },
});

export class OutOfStock extends CourierError {
  constructor(sku: string) {
    super('OUT_OF_STOCK', `no ${sku}`, { details: { sku } });
  }
}

export interface Seen {
  ctx?: Context;
  cancelled?: unknown;
  produced: number;
  streamFinished: boolean;
}

export function implementation(seen: Seen) {
  return {
    stock: async (q: { sku: string }, ctx: Context) => {
      seen.ctx = ctx;
      return { sku: q.sku, qty: 7, corr: ctx.correlationId ?? '' };
    },
    slow: async (q: { ms: number }, ctx: Context) => {
      seen.ctx = ctx;
      const cancelled = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), q.ms);
        ctx.cancel.onCancel((reason) => {
          seen.cancelled = reason;
          clearTimeout(timer);
          resolve(true);
        });
      });
      return { cancelled };
    },
    ticks: async function* (q: { n: number }, ctx: Context) {
      seen.ctx = ctx;
      try {
        for (let i = 0; i < q.n; i++) {
          if (ctx.cancel.isCancelled) return;
          seen.produced++;
          yield { i };
        }
      } finally {
        seen.streamFinished = true;
      }
    },
    fail: async (q: { code: string }) => {
      if (q.code === 'stock') throw new OutOfStock('ABC');
      if (q.code === 'bug') throw new Error('secret internals');
      return {};
    },
    sum: async (inputs: AsyncIterable<{ v: number }>) => {
      let total = 0;
      for await (const x of inputs) total += x.v;
      return { total };
    },
    echo: async function* (inputs: AsyncIterable<{ s: string }>) {
      for await (const x of inputs) yield { s: x.s.toUpperCase() };
    },
  } as any;
}
