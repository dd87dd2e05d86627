/** Options of the Redis Streams adapter and their defaults. */
import type { Redis, RedisOptions } from 'ioredis';
import type { Clock } from '../../core/clock.js';

export interface RedisBrokerOptions {
  /** Server URL, e.g. `redis://127.0.0.1:6379/0`. Default `redis://127.0.0.1:6379`. Ignored with `redis`. */
  readonly url?: string;
  /** Extra ioredis options for the connections the broker makes (with `url`). */
  readonly redisOptions?: RedisOptions;
  /**
   * Use this connection for publishing and settling instead of making one (the broker then does not close
   * it). Each subscription still opens its own connection (`duplicate()`) for blocking reads.
   */
  readonly redis?: Redis;
  /** Prepended to every key (the stream of topic `T` is `<keyPrefix>T`). Default ''. */
  readonly keyPrefix?: string;
  /** Largest body accepted, in bytes. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * Cap each stream near this many entries (`XADD MAXLEN ~`). Trims the oldest entries even if a slow group
   * has not read them yet: a memory bound, not a retention policy. Default: no cap.
   */
  readonly maxLen?: number;
  /**
   * `acked` (default): periodically delete entries that every group of the topic has acknowledged (`XTRIM
   * MINID`), so a work queue does not grow; replay then reaches back only to the oldest unacked entry.
   * `none`: keep everything (use `maxLen` or your own XTRIM).
   */
  readonly retention?: 'acked' | 'none';
  /** How often `acked` retention runs, per topic this broker subscribed to, in ms. Default 5000. */
  readonly retentionIntervalMs?: number;
  /**
   * Longest a subscription blocks waiting for new entries before it looks at due retries and scheduled
   * publishes again, in ms; so also the latency of nack delays and delayed publishes. Default 100.
   */
  readonly pollMs?: number;
  /** Consumer names are `<consumerPrefix>:<random>`. Default `<hostname>:<pid>`. */
  readonly consumerPrefix?: string;
  /** Time source for retry due times and leases. Default: the system clock. */
  readonly clock?: Clock;
  /** Errors of background work (a failed read, retention run or settlement). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}
