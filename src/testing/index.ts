/** `courier/testing`: tools for testing code built on Courier, and the conformance suites adapters must pass. */
export { FakeClock, flushMicrotasks } from './fake-clock.js';
export {
  runBrokerConformance,
  brokerCases,
  type BrokerConformanceOptions,
  type ConformanceCase,
  type TestApi,
  waitFor,
} from './broker-conformance/index.js';
