import { describe, it } from 'vitest';
import { runTransportConformance } from '../../../src/testing/index.js';
import { ws, wsServer } from '../../../src/sync/ws/index.js';

/** Room for the call frame around the input (id, operation name, context fields). */
const FRAME_OVERHEAD = 4096;

runTransportConformance({
  describe,
  it,
  name: 'ws',
  features: { streaming: false, maxInputBytes: 64 * 1024 },
  setup: async (contract, implementation, serverOptions) => {
    const limit = (serverOptions.maxInputBytes ?? 1024 * 1024) + FRAME_OVERHEAD;
    const server = wsServer({ ...serverOptions, maxPayloadBytes: limit });
    server.serve(contract, implementation);
    const client = ws(await server.listen(), { maxMessageBytes: limit });
    return {
      client,
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
});
