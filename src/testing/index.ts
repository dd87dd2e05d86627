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
export {
  runTransportConformance,
  transportCases,
  conformanceContract,
  conformanceImplementation,
  streamingContract,
  streamingImplementation,
  OutOfStockError,
  Probe,
  type ConformanceContract,
  type ConformanceServerOptions,
  type StreamingContract,
  type Tick,
  type TransportCase,
  type TransportConformanceOptions,
  type TransportFeatures,
  type TransportHarness,
  type TransportSetup,
} from './transport-conformance/index.js';
