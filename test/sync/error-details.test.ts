import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { command, service } from '../../src/core/contract.js';
import { CourierError } from '../../src/core/errors.js';
import { grpc, grpcServer } from '../../src/sync/grpc/index.js';
import { http, httpServer } from '../../src/sync/http/index.js';
import { inproc } from '../../src/sync/inproc/index.js';
import { type ClientTransport, createClient } from '../../src/sync/transport.js';
import { ws, wsServer } from '../../src/sync/ws/index.js';

/**
 * An error whose details JSON cannot encode (a BigInt, a cycle) still reaches the caller as its code and
 * message; only the details are lost. Run over every transport.
 */
const Svc = service('details', {
  commands: {
    fail: command({ input: z.object({ kind: z.enum(['bigint', 'cycle']) }), output: z.object({}) }),
    ok: command({ input: z.object({}), output: z.object({ ok: z.boolean() }) }),
  },
});

let failures = 0;
const implementation = {
  fail: async ({ kind }: { kind: 'bigint' | 'cycle' }): Promise<Record<string, never>> => {
    failures++;
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    throw new CourierError('DETAILS_UNENCODABLE', `details with a ${kind}`, {
      details: kind === 'bigint' ? { id: 10n } : cycle,
    });
  },
  ok: async () => ({ ok: true }),
};

type Kind = 'http' | 'ws' | 'grpc' | 'inproc';

async function over(kind: Kind): Promise<{ client: ClientTransport; close: () => Promise<void> }> {
  if (kind === 'inproc') {
    const transport = inproc();
    transport.serve(Svc, implementation);
    return { client: transport, close: () => transport.close() };
  }
  const server = kind === 'http' ? httpServer() : kind === 'ws' ? wsServer() : grpcServer();
  server.serve(Svc, implementation);
  const address = await server.listen();
  const client = kind === 'http' ? http(address) : kind === 'ws' ? ws(address) : grpc(address);
  return {
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

describe.each(['http', 'ws', 'grpc', 'inproc'] as const)('%s: errors with details JSON cannot encode', (kind) => {
  it.each(['bigint', 'cycle'] as const)('a %s in details: the caller still gets the code and message, and the server serves on', async (what) => {
    const { client, close } = await over(kind);
    try {
      const svc = createClient(Svc, client);
      // No deadline: an answer that is never written would hang here.
      const error = await svc.fail({ kind: what }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CourierError);
      expect((error as CourierError).code).toBe('DETAILS_UNENCODABLE');
      expect((error as CourierError).message).toBe(`details with a ${what}`);
      expect(await svc.ok({})).toEqual({ ok: true });
    } finally {
      await close();
    }
  });

  it('with an idempotency key, such an error is stored and replayed, and the key is not left in flight', async () => {
    const { client, close } = await over(kind);
    try {
      const svc = createClient(Svc, client);
      const before = failures;
      for (let i = 0; i < 2; i++) {
        const error = await svc.fail({ kind: 'bigint' }, { idempotencyKey: 'unencodable-1' }).catch((e: unknown) => e);
        expect((error as CourierError).code, `attempt ${i + 1}`).toBe('DETAILS_UNENCODABLE');
      }
      expect(failures - before).toBe(1);
    } finally {
      await close();
    }
  });
});
