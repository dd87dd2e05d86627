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
