export { MemoryBroker, memoryBroker, type MemoryBrokerOptions } from './memory-broker.js';
export { BrokerUnavailableError, type Faults } from './faults.js';
export type { Retention } from './topic-log.js';
