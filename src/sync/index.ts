/**
 * Synchronous transports: the `Transport` abstraction, the shared server pipeline, the wire error registry
 * and the transport-level errors (`courier/sync`). The transports themselves are `courier/http`, `courier/grpc`,
 * `courier/ws` and `courier/inproc`.
 */
export * from './transport.js';
export * from './errors.js';
export {
  type ErrorType,
  type ToWireOptions,
  type WireError,
  errorTypeOf,
  fromWireError,
  httpStatusOf,
  registerErrorType,
  toWireError,
} from './error-registry.js';
export { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from './served-operation.js';
