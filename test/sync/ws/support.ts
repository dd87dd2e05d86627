import { z } from 'zod';
import { command, event, query, service } from '../../../src/core/contract.js';
import { WsClientTransport, type WsClientOptions } from '../../../src/sync/ws/client.js';
import { WsServer, type WsServerOptions } from '../../../src/sync/ws/server.js';

export { waitFor } from '../../../src/testing/broker-conformance/support.js';

export const Shop = service('shop', {
  queries: {
    stock: query({ input: z.object({ sku: z.string().min(1) }), output: z.object({ sku: z.string(), qty: z.number().int() }) }),
  },
  commands: {
    place: command({
      input: z.object({ orderId: z.string(), qty: z.number().int().positive() }),
      output: z.object({ orderId: z.string(), accepted: z.boolean(), run: z.number().int() }),
      idempotent: true,
    }),
    echo: command({ input: z.object({ n: z.number() }), output: z.object({ n: z.number() }) }),
    slow: command({ input: z.object({ tag: z.string() }), output: z.object({ tag: z.string() }) }),
  },
  events: {
    OrderPlaced: event(z.object({ orderId: z.string(), n: z.number().int() })),
    StockChanged: event(z.object({ sku: z.string(), qty: z.number().int() })),
  },
});

/** A promise with its settle functions outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Servers and clients made by a test, closed after it. */
export class Fixture {
  readonly servers: WsServer[] = [];
  readonly clients: WsClientTransport[] = [];

  async server(options: WsServerOptions = {}): Promise<WsServer> {
    const server = new WsServer(options);
    this.servers.push(server);
    return server;
  }

  async listen(server: WsServer): Promise<string> {
    return server.listen();
  }

  client(url: string, options: WsClientOptions = {}): WsClientTransport {
    const client = new WsClientTransport(url, options);
    this.clients.push(client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.servers.map((s) => s.close()));
  }
}
