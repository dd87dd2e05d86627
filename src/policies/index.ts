/**
 * Courier's resilience policies. Each one is a `Middleware` usable directly in `compose([...])`, takes an
 * injectable clock, and fails with the typed errors of `core/errors`. Stateful policies (breaker,
 * bulkhead, rate limiter, retry budget) expose their state and events and can be shared between calls.
 */
export { type BackoffOptions, type Jitter, backoffDelay } from './backoff.js';
export { type Bulkhead, type BulkheadOptions, bulkhead } from './bulkhead.js';
export {
  type BreakerMode,
  type BreakerStats,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  type StateChange,
  breaker,
  circuitBreaker,
} from './circuit-breaker.js';
export { type FallbackFn, type FallbackOptions, fallback } from './fallback.js';
export { type HedgeEvent, type HedgeOptions, type HedgePolicy, hedge } from './hedge.js';
export { type RateLimiter, type RateLimiterOptions, rateLimiter } from './rate-limiter.js';
export { type RetryEvent, type RetryOptions, retry } from './retry.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetStats, retryBudget } from './retry-budget.js';
export type { Policy } from './shared.js';
export { type TimeoutEvent, type TimeoutOptions, type TimeoutPolicy, timeout } from './timeout.js';
