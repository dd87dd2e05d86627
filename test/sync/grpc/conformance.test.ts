import { describe, it } from 'vitest';
import type { Context } from '../../../src/core/context.js';
import type { OperationDef } from '../../../src/core/contract.js';
import { grpc, grpcServer } from '../../../src/sync/grpc/index.js';
import { runTransportConformance } from '../../../src/testing/index.js';

runTransportConformance({
  describe,
  it,
  name: 'grpc',
  // The limit is on protobuf bytes, which for the suite's string payloads track the JSON size closely.
  features: { streaming: true, maxInputBytes: 64 * 1024 },
  exclude: {
    'an output that cannot be serialised is InternalError, answered at once; the server keeps serving':
      "protobuf carries only the schema's fields: the suite's cycle sits outside them and is dropped, so the output encodes",
  },
  setup: async (contract, implementation, serverOptions) => {
    const server = grpcServer({ ...serverOptions, limits: { maxMessageBytes: serverOptions.maxInputBytes } });
    server.serve(contract, implementation);
    const client = grpc(await server.listen());
    return {
      client,
      stream: (operation: OperationDef, input: unknown, ctx: Context) => ({
        async *[Symbol.asyncIterator]() {
          yield* (await client.call(operation, input, ctx)) as AsyncIterable<unknown>;
        },
      }),
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
});
