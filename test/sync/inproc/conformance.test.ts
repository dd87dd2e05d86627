import { describe, it } from 'vitest';
import { inproc } from '../../../src/sync/inproc/index.js';
import { runTransportConformance } from '../../../src/testing/index.js';

runTransportConformance({
  describe,
  it,
  name: 'inproc',
  features: { streaming: false, maxInputBytes: 64 * 1024 },
  setup: async (contract, implementation, serverOptions) => {
    const transport = inproc({ ...serverOptions, maxInputBytes: serverOptions.maxInputBytes });
    transport.serve(contract, implementation);
    return { client: transport, close: () => transport.close() };
  },
});
