/**
 * Review findings on Courier's own HTTP/2 (`src/sync/grpc/h2/`) and its gRPC use: each test failed before
 * its fix. The client's retry decision for a streaming call cut off before its response headers.
 */
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { command, service } from '../../../src/core/contract.js';
import type { Context } from '../../../src/core/context.js';
import { UnavailableError } from '../../../src/sync/errors.js';
import { type GrpcServerOptions, grpc, grpcServer } from '../../../src/sync/grpc/index.js';
import { until } from './h2-helpers.js';

const Ops = service('ops', {
  commands: {
    charge: command({ input: z.object({ ms: z.number().int() }), output: z.object({ done: z.boolean() }) }),
    /** A server stream whose handler does its (non-idempotent) work before it hands back the iterable. */
    export: command({
      input: z.object({ ms: z.number().int() }),
      output: z.object({ n: z.number().int() }),
      stream: 'server',
    }),
  },
});

interface Seen {
  started: number;
  cancelled: number;
}

function implementation(seen: Seen) {
  const wait = (ms: number, ctx: Context) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      ctx.cancel.onCancel(() => {
        seen.cancelled++;
        clearTimeout(timer);
        resolve(true);
      });
    });
  return {
    charge: async (q: { ms: number }, ctx: Context) => {
      seen.started++;
      return { done: !(await wait(q.ms, ctx)) };
    },
    export: async (q: { ms: number }, ctx: Context) => {
      seen.started++;
      await wait(q.ms, ctx);
      return (async function* () {
        yield { n: 1 };
      })();
    },
  } as any;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(options: GrpcServerOptions = {}) {
  const seen: Seen = { started: 0, cancelled: 0 };
  const server = grpcServer(options);
  server.serve(Ops, implementation(seen));
  await server.listen();
  cleanups.push(() => server.close(100));
  return { server, seen, port: Number(server.address.split(':').pop()) };
}

describe('the gRPC client: retry decisions for streaming calls', () => {
  it('a non-idempotent server stream cut off after its handler ran (before response headers) is not safe to retry', async () => {
    const { server, port, seen } = await start();
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1 });
    cleanups.push(() => transport.close());
    const call = transport
      .client(Ops)
      .export({ ms: 20_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await until(() => seen.started === 1);
    await server.close(50); // the grace passes: the session is destroyed with the handler running
    const error = await call;
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryable).toBe(false);
  });
});
