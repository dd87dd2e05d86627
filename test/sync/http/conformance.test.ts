import { describe, it } from 'vitest';
import { http, httpServer } from '../../../src/sync/http/index.js';
import { runTransportConformance } from '../../../src/testing/index.js';

runTransportConformance({
  describe,
  it,
  name: 'http',
  features: { streaming: false, maxInputBytes: 64 * 1024 },
  setup: async (contract, implementation, serverOptions) => {
    const server = httpServer({ ...serverOptions, limits: { maxBodyBytes: serverOptions.maxInputBytes } });
    server.serve(contract, implementation);
    const client = http(await server.listen());
    return {
      client,
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
});
