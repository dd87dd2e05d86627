/** Idempotency keys: the guard every sync transport runs commands through, and its stores. */
export { IdempotencyConflictError, IdempotencyKeyReusedError } from './errors.js';
export { canonicalJson, fingerprint } from './fingerprint.js';
export { IdempotencyGuard, type IdempotencyOptions, Replay, wasReplayed } from './idempotency.js';
export { MemoryIdempotencyStore, type MemoryIdempotencyStoreOptions } from './memory-store.js';
export { SqliteIdempotencyStore, type SqliteIdempotencyStoreOptions } from './sqlite-store.js';
export type { BeginResult, IdempotencyRecord, IdempotencyStore } from './store.js';
