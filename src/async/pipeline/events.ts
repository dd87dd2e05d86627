/**
 * What a consumer reports about its work, one event per outcome, for metrics, logs and tests. The listener
 * runs synchronously on the consumer's path, so it should only count or enqueue.
 */
import type { ReceivedMessage } from '../broker.js';
import type { DeadLetterReason } from '../dlq.js';

export type ConsumerEvent =
  /** The handler succeeded and the message was acknowledged. */
  | { readonly type: 'handled'; readonly message: ReceivedMessage; readonly durationMs: number }
  /** The handler failed; the message will be delivered again after `delayMs`. */
  | {
      readonly type: 'retry';
      readonly message: ReceivedMessage;
      readonly error: unknown;
      readonly delayMs: number;
    }
  /** The message was given up on: published to `dlqTopic` (or dropped when that is `false`) and acknowledged. */
  | {
      readonly type: 'dead-lettered';
      readonly message: ReceivedMessage;
      readonly reason: DeadLetterReason;
      readonly error: unknown;
      readonly dlqTopic: string | false;
    }
  /** The inbox had already seen the message: acknowledged without running the handler. */
  | { readonly type: 'duplicate'; readonly message: ReceivedMessage }
  /** The consumer was closing: the message was handed back to the group unhandled. */
  | { readonly type: 'released'; readonly message: ReceivedMessage }
  /** Something failed that no caller can receive (a settle, a lease renewal, a DLQ publish). */
  | { readonly type: 'error'; readonly error: unknown; readonly message?: ReceivedMessage | undefined };

export type ConsumerEventType = ConsumerEvent['type'];
