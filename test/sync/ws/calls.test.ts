import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CancelSource } from '../../../src/core/cancel.js';
import { Context } from '../../../src/core/context.js';
import {
  CancelledError,
  CourierError,
  type CourierErrorOptions,
  DeadlineExceededError,
  TimeoutError,
  ValidationError,
} from '../../../src/core/errors.js';
import { registerErrorType } from '../../../src/sync/error-registry.js';
import { NotFoundError, UnavailableError } from '../../../src/sync/errors.js';
import { createClient } from '../../../src/sync/transport.js';
import { Fixture, Shop, deferred, waitFor } from './support.js';

class OutOfStockError extends CourierError {
  constructor(
    readonly sku: string,
    options: CourierErrorOptions = {},
  ) {
    super('OUT_OF_STOCK', `no stock of ${sku}`, { retryable: false, ...options });
  }
}
registerErrorType<OutOfStockError>({
  code: 'OUT_OF_STOCK',
  status: 409,
  create: (w, o) => new OutOfStockError(typeof w.fields?.['sku'] === 'string' ? w.fields['sku'] : '', o),
  fields: (e) => ({ sku: e.sku }),
});

const fx = new Fixture();
afterEach(() => fx.close());

/** A server hosting Shop with the given handlers (defaults echo), listening. */
async function shopServer(overrides: Partial<Parameters<typeof implementShop>[0]> = {}) {
  const server = await fx.server();
  server.serve(Shop, implementShop(overrides));
  const url = await server.listen();
  return { server, url };
}

function implementShop(overrides: Partial<Record<'stock' | 'place' | 'echo' | 'slow', (input: any, ctx: Context) => Promise<any>>>) {
  let runs = 0;
  return {
    stock: async ({ sku }: { sku: string }) => ({ sku, qty: 7 }),
    place: async ({ orderId }: { orderId: string }) => ({ orderId, accepted: true, run: ++runs }),
    echo: async ({ n }: { n: number }) => ({ n }),
    slow: async ({ tag }: { tag: string }) => ({ tag }),
    ...overrides,
  } as any;
}

describe('ws request/response', () => {
  it('answers queries and commands through createClient', async () => {
    const { url } = await shopServer();
    const shop = createClient(Shop, fx.client(url));
    expect(await shop.stock({ sku: 'A-1' })).toEqual({ sku: 'A-1', qty: 7 });
    expect(await shop.echo({ n: 42 })).toEqual({ n: 42 });
  });

  it('correlates many calls in flight on one connection, answered in reverse order', async () => {
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    const { url } = await shopServer({
      slow: async ({ tag }: { tag: string }) => {
        const gate = deferred();
        gates.set(tag, gate);
        await gate.promise;
        return { tag };
      },
    });
    const transport = fx.client(url);
    const shop = transport.client(Shop);
    const tags = Array.from({ length: 64 }, (_, i) => `t${i}`);
    const calls = tags.map((tag) => shop.slow({ tag }));
    await waitFor(() => gates.size === 64, 'all 64 calls running on the server');
    for (const tag of [...tags].reverse()) gates.get(tag)!.resolve();
    const outs = await Promise.all(calls);
    expect(outs.map((o) => o.tag)).toEqual(tags);
    expect(transport.connections).toBe(1);
  });

  it('rethrows typed errors as their registered classes', async () => {
    const { url } = await shopServer({
      place: async ({ orderId }: { orderId: string }) => {
        if (orderId === 'oos') throw new OutOfStockError('SKU-9');
        if (orderId === 'slow') throw new TimeoutError(250);
        throw new Error('secret internals');
      },
    });
    const shop = fx.client(url).client(Shop);
    const oos = await shop.place({ orderId: 'oos', qty: 1 }).catch((e: unknown) => e);
    expect(oos).toBeInstanceOf(OutOfStockError);
    expect((oos as OutOfStockError).sku).toBe('SKU-9');
    const timedOut = await shop.place({ orderId: 'slow', qty: 1 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expect((timedOut as TimeoutError).timeoutMs).toBe(250);
    const invalid = await shop.place({ orderId: 'x', qty: -1 }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).path).toEqual(['qty']);
    const internal = await shop.place({ orderId: 'bug', qty: 1 }).catch((e: unknown) => e);
    expect((internal as CourierError).code).toBe('INTERNAL');
    expect((internal as Error).message).not.toContain('secret');
  });

  it('answers an operation the server does not host with NotFoundError', async () => {
    const server = await fx.server();
    const url = await server.listen();
    const error = await createClient(Shop, fx.client(url))
      .stock({ sku: 'a' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
  });

  it('carries the idempotency key; ServedOperation replays a repeated command', async () => {
    const keys: Array<string | undefined> = [];
    let runs = 0;
    const { url } = await shopServer({
      place: async ({ orderId }: { orderId: string }, ctx: Context) => {
        keys.push(ctx.idempotencyKey);
        return { orderId, accepted: true, run: ++runs };
      },
    });
    const shop = fx.client(url).client(Shop);
    const first = await shop.place({ orderId: 'o1', qty: 1 }, { idempotencyKey: 'key-1' });
    const again = await shop.place({ orderId: 'o1', qty: 1 }, { idempotencyKey: 'key-1' });
    expect(first).toEqual({ orderId: 'o1', accepted: true, run: 1 });
    expect(again).toEqual(first);
    expect(keys).toEqual(['key-1']);
  });

  it('carries trace context, correlation id, attempt and metadata', async () => {
    let seen: Context | undefined;
    const { url } = await shopServer({
      echo: async ({ n }: { n: number }, ctx: Context) => {
        seen = ctx;
        return { n };
      },
    });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ctx = new Context({ traceparent, correlationId: 'corr-1', metadata: { tenant: 't1' } });
    await fx.client(url).client(Shop, { ctx }).echo({ n: 1 });
    expect(seen!.correlationId).toBe('corr-1');
    expect(seen!.traceparent?.slice(0, 36)).toBe(traceparent.slice(0, 36)); // same trace, a child span
    expect(seen!.metadata).toEqual({ tenant: 't1' });
    expect(seen!.operation).toBe('shop.echo');
  });
});

describe('ws deadlines and cancellation', () => {
  it('gives the callee the remaining budget, never more', async () => {
    const remaining: number[] = [];
    const { url } = await shopServer({
      echo: async ({ n }: { n: number }, ctx: Context) => {
        remaining.push(ctx.remaining());
        return { n };
      },
    });
    await fx.client(url).client(Shop).echo({ n: 1 }, { timeoutMs: 5000 });
    expect(remaining[0]).toBeGreaterThan(0);
    expect(remaining[0]).toBeLessThanOrEqual(5000);
    // The relative budget wins over an absolute deadline (which a skewed clock would misread).
    const raw = new WebSocket(url);
    await new Promise((resolve) => raw.once('open', resolve));
    const answer = new Promise<any>((resolve) => raw.once('message', (d) => resolve(JSON.parse((d as Buffer).toString('utf8')))));
    raw.send(JSON.stringify({ t: 'call', id: 7, op: 'shop.echo', in: { n: 2 }, ms: 1234, dl: Date.now() + 600_000 }));
    expect(await answer).toEqual({ t: 'res', id: 7, out: { n: 2 } });
    raw.close();
    expect(remaining[1]).toBeGreaterThan(0);
    expect(remaining[1]).toBeLessThanOrEqual(1234);
  });

  it('never starts work whose deadline has passed (raw frame with ms: 0)', async () => {
    let started = false;
    const { url } = await shopServer({
      echo: async ({ n }: { n: number }) => {
        started = true;
        return { n };
      },
    });
    const raw = new WebSocket(url);
    await new Promise((resolve) => raw.once('open', resolve));
    const answer = new Promise<any>((resolve) => raw.once('message', (d) => resolve(JSON.parse((d as Buffer).toString('utf8')))));
    raw.send(JSON.stringify({ t: 'call', id: 1, op: 'shop.echo', in: { n: 1 }, ms: 0 }));
    const frame = await answer;
    raw.close();
    expect(frame).toMatchObject({ t: 'err', id: 1, err: { code: 'DEADLINE_EXCEEDED' } });
    expect(started).toBe(false);
  });

  it('a caller whose deadline passes rejects, and the server cancels the handler', async () => {
    const cancelled = deferred<unknown>();
    const { url } = await shopServer({
      slow: (_input: unknown, ctx: Context) =>
        new Promise((_resolve, reject) => {
          ctx.cancel.onCancel((reason) => {
            cancelled.resolve(reason);
            reject(reason);
          });
        }),
    });
    const shop = fx.client(url).client(Shop);
    const error = await shop.slow({ tag: 'x' }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    // The server side fires too: by its own deadline guard or by the client's cancel frame.
    expect(await cancelled.promise).toBeInstanceOf(CourierError);
  });

  it('cancelling the caller token sends a cancel frame: the handler sees CancelledError', async () => {
    const running = deferred();
    const cancelled = deferred<unknown>();
    const { url } = await shopServer({
      slow: (_input: unknown, ctx: Context) =>
        new Promise(() => {
          ctx.cancel.onCancel((reason) => cancelled.resolve(reason));
          running.resolve();
        }),
    });
    const shop = fx.client(url).client(Shop);
    const source = new CancelSource();
    const call = shop.slow({ tag: 'x' }, { ctx: new Context({ cancel: source }) }).catch((e: unknown) => e);
    await running.promise;
    const reason = new CancelledError('user navigated away');
    source.cancel(reason);
    expect(await call).toBe(reason);
    const seen = await cancelled.promise;
    expect(seen).toBeInstanceOf(CancelledError);
    expect((seen as Error).message).toContain('caller cancelled');
  });

  it('a dropped connection rejects calls in flight with UnavailableError (retryable only when replayable) and cancels handlers', async () => {
    const running = new Set<string>();
    const cancelled: string[] = [];
    const { url } = await shopServer({
      slow: ({ tag }: { tag: string }, ctx: Context) =>
        new Promise(() => {
          running.add(tag);
          ctx.cancel.onCancel(() => cancelled.push(tag));
        }),
      stock: ({ sku }: { sku: string }, ctx: Context) =>
        new Promise(() => {
          running.add(sku);
          ctx.cancel.onCancel(() => cancelled.push(sku));
        }),
    });
    const transport = fx.client(url);
    const shop = transport.client(Shop);
    const command = shop.slow({ tag: 'cmd' }).catch((e: unknown) => e);
    const queryCall = shop.stock({ sku: 'qry' }).catch((e: unknown) => e);
    await waitFor(() => running.size === 2, 'both calls running');
    transport.disconnect();
    const [c, q] = await Promise.all([command, queryCall]);
    expect(c).toBeInstanceOf(UnavailableError);
    expect((c as UnavailableError).retryable).toBe(false); // a command may have run
    expect(q).toBeInstanceOf(UnavailableError);
    expect((q as UnavailableError).retryable).toBe(true); // a query is safe to repeat
    await waitFor(() => cancelled.length === 2, 'handlers cancelled on disconnect');
    // The transport reconnects on the next call.
    expect(await shop.echo({ n: 5 })).toEqual({ n: 5 });
    expect(transport.connections).toBe(2);
  });

  it('a call made before the server is reachable fails with a retryable UnavailableError', async () => {
    const server = await fx.server();
    const url = await server.listen();
    await server.close();
    const error = await fx
      .client(url, { reconnect: false })
      .client(Shop)
      .echo({ n: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryable).toBe(true);
  });
});
