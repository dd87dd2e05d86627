/**
 * `courier`: the core. Contracts, context, errors, middleware, the envelope and the `courier()` node. Transports,
 * brokers and policies live in subpath exports (`courier/policies`, `courier/embedded`, …) so that an
 * application loads only what it uses (the node loads the embedded broker only when it first needs it).
 */
export * from './core/errors.js';
export * from './core/clock.js';
export * from './core/cancel.js';
export * from './core/context.js';
export * from './core/middleware.js';
export * from './core/contract.js';
export * from './core/envelope.js';
export * from './core/trace-context.js';
export * from './core/ids.js';
export * from './node/index.js';
