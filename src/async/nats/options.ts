/** Options of the NATS JetStream adapter and their defaults. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../../core/clock.js';

export interface NatsRetentionLimits {
  /** Drop messages older than this, in ms. */
  readonly maxAgeMs?: number;
  /** Keep at most this many messages per topic. */
  readonly maxMessages?: number;
  /** Keep at most this many bytes per topic. */
  readonly maxBytes?: number;
}

export interface NatsBrokerOptions {
  /** Server URL(s). Default `nats://127.0.0.1:4222`. Ignored with `connection`. */
  readonly servers?: string | string[];
  /** Use this connection (the broker then does not close it). Connect it with `noAsyncTraces: true`: otherwise the client builds two stack traces per publish (~20% of the CPU per message, measured). */
  readonly connection?: NatsConnection;
  /** Prepended to stream and consumer names. Default `courier_`. */
  readonly namePrefix?: string;
  /**
   * What a topic's stream keeps, applied when the broker creates the stream (an existing stream's
   * configuration is left as it is):
   * - `acked` (default): JetStream interest retention, a message is deleted once every group acked it (and
   *   a message published while the topic has no group is not kept);
   * - limits: keep messages for replay until a limit removes them.
   */
  readonly retention?: 'acked' | NatsRetentionLimits;
  /** Dedup window for `Nats-Msg-Id`, in ms. Default 120 000 (the server's default). */
  readonly duplicateWindowMs?: number;
  /** Largest body accepted, in bytes. Default 1 MiB (also the server's default `max_payload`). */
  readonly maxMessageBytes?: number;
  /** How long one pull request waits for messages, in ms. Default and minimum 1000. */
  readonly pullExpiresMs?: number;
  /** Time source for leases. Default: the system clock. */
  readonly clock?: Clock;
  /** Errors of background work (a failed pull, a lost connection). Default: ignored. */
  readonly onError?: (error: unknown) => void;
}
