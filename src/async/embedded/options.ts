/**
 * Options of the embedded broker and their defaults. `dir` is the only required one: everything else has a
 * default that suits a work queue on one machine.
 */
import type { Clock } from '../../core/clock.js';
import type { Durability } from './database.js';
import type { RetentionOption } from './retention.js';

export interface EmbeddedBrokerOptions {
  /** Directory holding `broker.db` (created if missing). One process owns it at a time. */
  readonly dir: string;
  /**
   * How durable an acknowledged publish is:
   * - `process` (default): survives the death of any process (SIGKILL, crash); SQLite WAL with
   *   `synchronous=NORMAL`, no fsync per commit. A power loss or kernel crash may lose the last commits.
   * - `power`: also survives power loss; `synchronous=FULL`, the WAL is fsynced before a publish resolves.
   */
  readonly durability?: Durability;
  /** Time source for publish times, delays and leases. Default: the system clock. */
  readonly clock?: Clock;
  /** Largest message body accepted, in bytes. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** What to keep on disk, per topic (see `RetentionPolicy`). Default: delete once every group acked. */
  readonly retention?: RetentionOption;
  /**
   * Called with errors that no caller can receive, such as a failed disk read while dispatching (the
   * dispatcher retries a second later). Default: `process.emitWarning`.
   */
  readonly onError?: (error: unknown) => void;
  /** Internal sizes; the defaults are right for almost everyone. */
  readonly tuning?: EmbeddedTuning;
}

export interface EmbeddedTuning {
  /** Most messages a group reads from disk at once. Default 256. */
  readonly readAheadPage?: number;
  /**
   * Most messages a group holds in memory (in flight, ready, held back by key or delay), at least the
   * group's total prefetch plus one page. Default 4096.
   */
  readonly windowLimit?: number;
  /** Most messages stored in one batch row. Default 256. */
  readonly maxRowMessages?: number;
  /** Most bytes stored in one batch row (a larger single message gets a row of its own). Default 256 KiB. */
  readonly maxRowBytes?: number;
  /**
   * Most publishes written by one transaction; the rest go in the next one. A transaction carries whole
   * rows, so it may hold fewer (and no row holds more than this). Default 8192.
   */
  readonly maxTransactionMessages?: number;
  /** How often retention runs (piggybacking on a commit), in ms. Default 1000. */
  readonly retentionIntervalMs?: number;
}

export type ResolvedTuning = Required<EmbeddedTuning>;

export function resolveTuning(t: EmbeddedTuning = {}): ResolvedTuning {
  return {
    readAheadPage: positiveInt(t.readAheadPage, 256, 'readAheadPage'),
    windowLimit: positiveInt(t.windowLimit, 4096, 'windowLimit'),
    maxRowMessages: positiveInt(t.maxRowMessages, 256, 'maxRowMessages'),
    maxRowBytes: positiveInt(t.maxRowBytes, 256 * 1024, 'maxRowBytes'),
    maxTransactionMessages: positiveInt(t.maxTransactionMessages, 8192, 'maxTransactionMessages'),
    retentionIntervalMs: positiveInt(t.retentionIntervalMs, 1000, 'retentionIntervalMs'),
  };
}

export function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
