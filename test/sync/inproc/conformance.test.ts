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

// Without the JSON "wire" values and errors pass by reference, so what only copying does is excluded.
const passedThrough = 'copy: false hands values and errors over unchanged';
runTransportConformance({
  describe,
  it,
  name: 'inproc (copy: false)',
  features: { streaming: false, maxInputBytes: undefined },
  exclude: {
    'an unregistered code arrives as a CourierError with that code; a non-Courier error as InternalError without its message':
      passedThrough,
    'an output that cannot be serialised is InternalError, answered at once; the server keeps serving': passedThrough,
  },
  setup: async (contract, implementation, serverOptions) => {
    const transport = inproc({ ...serverOptions, copy: false });
    transport.serve(contract, implementation);
    return { client: transport, close: () => transport.close() };
  },
});
