import { describe, it } from 'vitest';
import { memoryBroker } from '../../src/async/memory/index.js';
import { runBrokerConformance } from '../../src/testing/index.js';

runBrokerConformance({
  describe,
  it,
  name: 'memory',
  features: memoryBroker().features,
  create: () => memoryBroker(),
});
