import { describe, expect, it } from 'vitest';
import { http, httpServer } from '../../../src/sync/http/index.js';
import { createClient } from '../../../src/sync/transport.js';
import { Probe, conformanceContract, conformanceImplementation, waitFor } from '../../../src/testing/index.js';

describe('HTTP server: close', () => {
  it('answers the call in flight, then returns although the client keeps its connection alive', async () => {
    const probe = new Probe();
    const server = httpServer();
    server.serve(conformanceContract, conformanceImplementation(probe));
    const transport = http(await server.listen());
    try {
      const client = createClient(conformanceContract, transport);
      const gate = probe.gate('in-flight');
      const call = client.effect({ id: 'in-flight', amount: 1 });
      await waitFor(() => probe.count('effect') === 1, 'the call to reach the handler');
      let closed = false;
      const closing = server.close().then(() => (closed = true));
      // The call is answered only once the server has stopped listening (its close is under way).
      await waitFor(() => !server.app.server.listening, 'the server to stop listening');
      gate.open();
      expect((await call).total).toBe(1);
      await closing;
      expect(closed).toBe(true);
    } finally {
      await transport.close();
    }
  }, 10_000);

  it('returns at once when nothing is in flight, with idle keep-alive connections open', async () => {
    const server = httpServer();
    server.serve(conformanceContract, conformanceImplementation(new Probe()));
    const transport = http(await server.listen());
    try {
      await createClient(conformanceContract, transport).inspect({ label: 'warm' });
      await server.close();
    } finally {
      await transport.close();
    }
  }, 10_000);
});

describe('HTTP server: a client that goes away', () => {
  it("cancels the running call's ctx with CancelledError; other calls on other connections run on", async () => {
    const { z } = await import('zod');
    const { service, query } = await import('../../../src/core/contract.js');
    const { CancelledError } = await import('../../../src/core/errors.js');
    const net = await import('node:net');
    const Slow = service('slow', { queries: { wait: query({ input: z.object({ id: z.string() }), output: z.object({ id: z.string() }) }) } });
    const seen = new Map<string, unknown>();
    const server = httpServer();
    server.serve(Slow, {
      wait: (input, ctx) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve({ id: input.id }), 400);
          ctx.cancel.onCancel((reason) => {
            clearTimeout(timer);
            seen.set(input.id, reason);
            resolve({ id: input.id });
          });
        }),
    });
    const url = new URL(await server.listen());
    const transport = http(url.href);
    try {
      // A raw request on its own socket, cut off while the handler runs.
      const socket = net.connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`GET /slow/wait?id=gone HTTP/1.1\r\nhost: x\r\n\r\n`);
      const kept = createClient(Slow, transport).wait({ id: 'kept' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      await waitFor(() => seen.has('gone'), 'the handler of the gone client to be cancelled');
      expect(seen.get('gone')).toBeInstanceOf(CancelledError);
      expect(await kept).toEqual({ id: 'kept' });
      expect(seen.has('kept')).toBe(false);
    } finally {
      await transport.close();
      await server.close();
    }
  }, 10_000);
});
