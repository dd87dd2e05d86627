/**
 * Courier's async core: the `Broker` interface every adapter implements, the consumer pipeline above it,
 * and dead-letter records. Adapters are separate entry points (`courier/memory`, `courier/embedded`, …).
 */
export type * from './broker.js';
export * from './pipeline/index.js';
export {
  DLQ_HEADERS,
  DLQ_HEADER_PREFIX,
  DeadLetterFormatError,
  MAX_ERROR_MESSAGE,
  deadLetterId,
  deadLetterMessage,
  defaultDlqTopic,
  describeError,
  isDeadLetter,
  readDeadLetter,
  replayDeadLetter,
  withoutDlqHeaders,
  type DeadLetterFailure,
  type DeadLetterReason,
  type DeadLetterRecord,
  type RecordedError,
  type ReplayOptions,
} from './dlq.js';
