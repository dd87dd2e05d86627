/** Options of the RabbitMQ (AMQP 0-9-1) adapter and their defaults. */
import type { Options } from 'amqplib';
import type { Clock } from '../../core/clock.js';

export interface AmqpBrokerOptions {
  /** Broker URL. Default `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string | Options.Connect;
  /** Socket options passed to amqplib (TLS and the like). */
  readonly socketOptions?: unknown;
  /** Prepended to every exchange and queue name. Default ''. */
  readonly prefix?: string;
  /**
   * Queue type of group queues: `classic` (default) or `quorum` (replicated Raft log; set
   * `raft.wal_max_size_bytes` on the server, see scripts/brokers.sh). Retry and delay queues are classic.
   */
  readonly queueType?: 'classic' | 'quorum';
  /** Largest body accepted, in bytes. Default 1 MiB (RabbitMQ's own limit is 128 MiB by default). */
  readonly maxMessageBytes?: number;
  /** Reconnect backoff: first delay and cap, in ms. Defaults 100 and 5000 (decorrelated jitter). */
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /** Time source for leases. Default: the system clock. */
  readonly clock?: Clock;
  /** Errors of background work (a lost connection, a failed settlement). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}
