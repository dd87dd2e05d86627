import { CourierError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Broker, PublishReceipt, ReceivedMessage } from '../broker.js';

/**
 * Dead letters: a message the pipeline gave up on is published to `<topic>.dlq` with its ORIGINAL headers and
 * body untouched, plus `courier-dlq-*` headers that say why. Nothing about the message is lost, so it can be
 * inspected, fixed and replayed to its topic.
 */
export type DeadLetterReason =
  /** The envelope, the body or the payload's schema was invalid: retrying cannot help. */
  | 'poison'
  /** The handler failed `maxAttempts` times. */
  | 'max-attempts'
  /** The handler threw an error marked non-retryable. */
  | 'non-retryable'
  /** The message's deadline passed before it could be handled. */
  | 'expired';

export interface DeadLetter {
  readonly reason: DeadLetterReason;
  readonly errorClass: string;
  readonly errorCode: string | undefined;
  readonly errorMessage: string;
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  readonly topic: string;
  readonly group: string;
  readonly originalId: string;
  /** The original message's headers (without the `courier-dlq-*` ones) and body. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly key: string | undefined;
}

const PREFIX = 'courier-dlq-';
const MAX_TEXT = 1024;

export interface DeadLetterFacts {
  readonly reason: DeadLetterReason;
  readonly error: unknown;
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  readonly group: string;
}

/** Publish `message` to `dlqTopic` with the facts of its failure. */
export function publishDeadLetter(
  broker: Broker,
  dlqTopic: string,
  message: ReceivedMessage,
  facts: DeadLetterFacts,
): Promise<PublishReceipt> {
  const error = facts.error;
  const headers: Record<string, string> = {
    ...message.headers,
    [`${PREFIX}reason`]: facts.reason,
    [`${PREFIX}error-class`]: text(error instanceof Error ? error.name : typeof error),
    [`${PREFIX}error-message`]: text(error instanceof Error ? error.message : String(error)),
    [`${PREFIX}attempts`]: String(facts.attempts),
    [`${PREFIX}first-failure`]: String(facts.firstFailureAt),
    [`${PREFIX}last-failure`]: String(facts.lastFailureAt),
    [`${PREFIX}topic`]: text(message.topic),
    [`${PREFIX}group`]: text(facts.group),
    [`${PREFIX}original-id`]: text(message.id),
  };
  if (error instanceof CourierError) headers[`${PREFIX}error-code`] = error.code;
  // One dead letter per (message, group): a crash between publishing it and acking the original republishes
  // the same id, which brokers with dedup drop.
  return broker.publish(dlqTopic, {
    id: `${message.id}.dlq.${facts.group}`,
    key: message.key,
    headers,
    body: message.body,
  });
}

/** Read a message from a DLQ topic. Throws `TypeError` when it is not a Courier dead letter. */
export function readDeadLetter(message: ReceivedMessage): DeadLetter {
  const h = message.headers;
  const reason = h[`${PREFIX}reason`] as DeadLetterReason | undefined;
  if (reason === undefined)
    throw new TypeError(`message ${message.id} is not a dead letter (no ${PREFIX}reason header)`);
  const original: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) if (!name.startsWith(PREFIX)) original[name] = value;
  return {
    reason,
    errorClass: h[`${PREFIX}error-class`] ?? 'Error',
    errorCode: h[`${PREFIX}error-code`],
    errorMessage: h[`${PREFIX}error-message`] ?? '',
    attempts: Number(h[`${PREFIX}attempts`] ?? 0),
    firstFailureAt: Number(h[`${PREFIX}first-failure`] ?? 0),
    lastFailureAt: Number(h[`${PREFIX}last-failure`] ?? 0),
    topic: h[`${PREFIX}topic`] ?? message.topic.replace(/\.dlq$/, ''),
    group: h[`${PREFIX}group`] ?? '',
    originalId: h[`${PREFIX}original-id`] ?? message.id,
    headers: original,
    body: message.body,
    key: message.key,
  };
}

/**
 * Send a dead letter back to its topic, unchanged (same envelope, so the handler sees the same event id and an
 * idempotent consumer still recognises it), under a new broker message id so broker-level dedup lets it through.
 */
export function replayDeadLetter(
  broker: Broker,
  message: ReceivedMessage,
  options: { topic?: string } = {},
): Promise<PublishReceipt> {
  const letter = readDeadLetter(message);
  return broker.publish(options.topic ?? letter.topic, {
    id: `${letter.originalId}.replay.${newId()}`,
    key: letter.key,
    headers: letter.headers,
    body: letter.body,
  });
}

/** Header-safe text: no control characters (brokers and HTTP reject CR/LF), bounded length. */
function text(value: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT - 1)}…` : clean;
}
