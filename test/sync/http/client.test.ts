import { afterEach, describe, expect, it } from 'vitest';
import { Context } from '../../../src/core/context.js';
import { CancelledError, DeadlineExceededError } from '../../../src/core/errors.js';
import { type HttpClientTransport, type HttpServer, http, httpServer } from '../../../src/sync/http/index.js';
import { createClient } from '../../../src/sync/transport.js';
import { Probe, conformanceContract, conformanceImplementation, waitFor } from '../../../src/testing/index.js';

/** The HTTP client's own behaviour where the pool, not the server, decides what happens. */
describe('HTTP client: calls queued behind busy connections', () => {
  let server: HttpServer | undefined;
  let transport: HttpClientTransport | undefined;
  afterEach(async () => {
    await transport?.close();
    await server?.close();
  });

  async function start(): Promise<{ probe: Probe; client: ReturnType<typeof createClient<typeof conformanceContract>> }> {
    const probe = new Probe();
    server = httpServer();
    server.serve(conformanceContract, conformanceImplementation(probe));
    transport = http(await server.listen(), { connections: 1 });
    return { probe, client: createClient(conformanceContract, transport) };
  }

  it('a queued call rejects as soon as its caller cancels, and is never sent', async () => {
    const { probe, client } = await start();
    const blocker = new Context().withCancel();
    const first = client.hold({ id: 'first' }, { ctx: blocker.ctx }).catch((e: unknown) => e);
    await waitFor(() => probe.hold('first').started, 'the first call to hold the only connection');
    const queued = new Context().withCancel();
    const second = client.hold({ id: 'second', holdMs: 1 }, { ctx: queued.ctx }).catch((e: unknown) => e);
    queued.source.cancel(new CancelledError('gave up while queued'));
    const error = await second;
    expect(error).toBeInstanceOf(CancelledError);
    // It settled while the connection was still busy with the first call: it did not wait for a connection.
    expect(probe.hold('first').finished).toBe(false);
    blocker.source.cancel(new CancelledError('done'));
    await first;
    // The connection is free now; the cancelled request must not go out on it.
    expect(await client.inspect({ label: 'after' })).toMatchObject({ operation: 'conformance.inspect' });
    expect(probe.hold('second').started).toBe(false);
  });

  it('a queued call whose deadline passes rejects with DeadlineExceededError and is never run', async () => {
    const { probe, client } = await start();
    const blocker = new Context().withCancel();
    const first = client.hold({ id: 'first' }, { ctx: blocker.ctx }).catch((e: unknown) => e);
    await waitFor(() => probe.hold('first').started, 'the first call to hold the only connection');
    const error = await client.hold({ id: 'late', holdMs: 1 }, { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(probe.hold('first').finished).toBe(false);
    blocker.source.cancel(new CancelledError('done'));
    await first;
    await client.inspect({ label: 'after' });
    expect(probe.hold('late').started).toBe(false);
  });
});
