/**
 * An operation the client sent (or will send) and whose result it waits for. What happens to it when the
 * connection drops before its result arrived is part of the remote broker's contract:
 *
 * - `resend`: publishes, seek, lag. Sent again, as the same bytes (same request id, same message id), on
 *   the next connection, in their original order. A publish the server had already stored before the
 *   connection died is therefore stored twice, unless the served broker drops duplicate ids
 *   (`features.dedup`): at-least-once.
 * - `resolve`: settlements and unsubscribe. The server released everything of the lost connection, so
 *   the operation has nothing left to act on; it succeeds as a no-op, like settling twice.
 * - `drop`: subscribe. The client subscribes again on the next connection anyway.
 */
export type AfterDisconnect = 'resend' | 'resolve' | 'drop';

export interface PendingOp {
  readonly reqId: number;
  readonly afterDisconnect: AfterDisconnect;
  /** Counts against `maxInFlight`. */
  readonly isPublish: boolean;
  /** The encoded frame, kept for sending later or again. */
  frame: Buffer | undefined;
  done(value: unknown): void;
  fail(error: Error): void;
}
