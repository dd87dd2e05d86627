/**
 * Dead-letter records: what Courier's consumer pipeline publishes when it gives up on a message, how to read
 * one back (typed), and how to send a dead-lettered message back to its topic once the cause is fixed.
 *
 * A record is the ORIGINAL message, unchanged (same key, same body, every original header, so the CloudEvents
 * envelope still decodes), plus `courier-dlq-*` headers saying why, when, how often and where it failed.
 * Keeping the original intact is the point: a DLQ consumer can run the same decoder, an operator can read
 * it in any broker tool, and a replay is a byte-for-byte copy of what the producer sent.
 *
 * Header values are plain strings any broker carries: times are RFC 3339 (UTC, ms), numbers are decimal, and
 * the error message is cut to `MAX_ERROR_MESSAGE` characters with control characters (CR, LF…) replaced by
 * spaces, because several brokers (NATS, MQTT) reject them in headers.
 *
 * The record's own message id is derived from the original id and the group (`deadLetterId`), so a broker
 * with native dedup drops a second dead-lettering of the same delivery (e.g. when the ack after the DLQ
 * publish was lost). A replay gets a fresh id (otherwise the same dedup would drop the replay as a copy of
 * the original publish).
 */
import { CourierError } from '../core/errors.js';
import { type Envelope, decodeEnvelope } from '../core/envelope.js';
import { newId } from '../core/ids.js';
import type { Broker, OutgoingMessage, PublishReceipt, ReceivedMessage } from './broker.js';

/** Why the pipeline gave up on a message. */
export type DeadLetterReason =
  /** The handler failed `maxAttempts` times. */
  | 'max-attempts'
  /** The handler failed with an error that says retrying cannot help (e.g. `ValidationError`). */
  | 'non-retryable'
  /** The message could not be decoded or did not match its schema: no handler ever saw it. */
  | 'poison'
  /** The message's deadline had passed before its handler could start: nobody waits for the outcome. */
  | 'expired';

const REASONS: ReadonlySet<string> = new Set<DeadLetterReason>(['max-attempts', 'non-retryable', 'poison', 'expired']);

/** Header names of a dead-letter record. All start with `courier-dlq-`. */
export const DLQ_HEADERS = {
  reason: 'courier-dlq-reason',
  errorClass: 'courier-dlq-error-class',
  errorCode: 'courier-dlq-error-code',
  errorMessage: 'courier-dlq-error-message',
  attempts: 'courier-dlq-attempts',
  firstFailureAt: 'courier-dlq-first-failure-at',
  lastFailureAt: 'courier-dlq-last-failure-at',
  topic: 'courier-dlq-topic',
  group: 'courier-dlq-group',
  originalId: 'courier-dlq-original-id',
  key: 'courier-dlq-key',
  sequence: 'courier-dlq-sequence',
  publishedAt: 'courier-dlq-published-at',
} as const;

export const DLQ_HEADER_PREFIX = 'courier-dlq-';

/** Longest error message kept in a record, in UTF-16 code units. */
export const MAX_ERROR_MESSAGE = 1000;

/** The default DLQ topic of `topic`. */
export function defaultDlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** What the pipeline knows about a failure when it dead-letters a message. */
export interface DeadLetterFailure {
  readonly reason: DeadLetterReason;
  readonly error: unknown;
  /** Deliveries so far (the failed delivery's attempt number). */
  readonly attempts: number;
  /** Earliest failure of this message this consumer knows of, epoch ms. */
  readonly firstFailureAt: number;
  /** This failure, epoch ms. */
  readonly lastFailureAt: number;
  /** The consumer group that gave up. */
  readonly group: string;
}

/** A failure as recorded: the error's class name, its code where it has one, its message. */
export interface RecordedError {
  readonly errorClass: string;
  readonly errorCode: string | undefined;
  readonly errorMessage: string;
}

/** A dead-letter record, read back. Times are epoch ms. */
export interface DeadLetterRecord extends RecordedError {
  readonly reason: DeadLetterReason;
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  /** Where the message was consumed from. */
  readonly topic: string;
  readonly group: string;
  /** The original message's id, key, sequence and publish time (the last two where the broker had them). */
  readonly originalId: string;
  readonly key: string | undefined;
  readonly sequence: string | undefined;
  readonly publishedAt: number | undefined;
  /** The original headers, without the `courier-dlq-*` ones. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The original envelope, or undefined when it does not decode (a poison message). */
  readonly envelope: Envelope | undefined;
}

/** A message that should be a dead-letter record is not one (missing or malformed `courier-dlq-*` headers). */
export class DeadLetterFormatError extends CourierError {
  constructor(readonly header: string, problem: string) {
    super('INVALID_DEAD_LETTER', `not a dead-letter record: header "${header}" ${problem}`, {
      retryable: false,
      details: { header },
    });
  }
}

/** Build the record the pipeline publishes to the DLQ topic for `original`. */
export function deadLetterMessage(original: ReceivedMessage, failure: DeadLetterFailure): OutgoingMessage {
  const error = describeError(failure.error);
  const headers: Record<string, string> = withoutDlqHeaders(original.headers);
  headers[DLQ_HEADERS.reason] = failure.reason;
  headers[DLQ_HEADERS.errorClass] = error.errorClass;
  if (error.errorCode !== undefined) headers[DLQ_HEADERS.errorCode] = error.errorCode;
  headers[DLQ_HEADERS.errorMessage] = error.errorMessage;
  headers[DLQ_HEADERS.attempts] = String(failure.attempts);
  headers[DLQ_HEADERS.firstFailureAt] = new Date(failure.firstFailureAt).toISOString();
  headers[DLQ_HEADERS.lastFailureAt] = new Date(failure.lastFailureAt).toISOString();
  headers[DLQ_HEADERS.topic] = original.topic;
  headers[DLQ_HEADERS.group] = failure.group;
  headers[DLQ_HEADERS.originalId] = original.id;
  if (original.key !== undefined) headers[DLQ_HEADERS.key] = original.key;
  if (original.sequence !== undefined) headers[DLQ_HEADERS.sequence] = String(original.sequence);
  if (original.publishedAt !== undefined) headers[DLQ_HEADERS.publishedAt] = new Date(original.publishedAt).toISOString();
  return { id: deadLetterId(original.id, failure.group), key: original.key, headers, body: original.body };
}

/**
 * The message id of `originalId`'s dead letter from `group`: one per (message, group), so several groups can
 * dead-letter the same message to one DLQ topic, while a repeat by the same group is dropped by brokers with
 * dedup.
 */
export function deadLetterId(originalId: string, group: string): string {
  return `${originalId}.dlq.${group}`;
}

/** True when `message` carries a dead-letter reason header. */
export function isDeadLetter(message: Pick<ReceivedMessage, 'headers'>): boolean {
  return message.headers[DLQ_HEADERS.reason] !== undefined;
}

/** Read a dead-letter record. Throws `DeadLetterFormatError` when `message` is not one. */
export function readDeadLetter(message: {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly key?: string | undefined;
}): DeadLetterRecord {
  const h = message.headers;
  const required = (name: string): string => {
    const value = h[name];
    if (value === undefined) throw new DeadLetterFormatError(name, 'is missing');
    return value;
  };
  const reason = required(DLQ_HEADERS.reason);
  if (!REASONS.has(reason)) throw new DeadLetterFormatError(DLQ_HEADERS.reason, `has unknown value "${reason}"`);
  const attemptsText = required(DLQ_HEADERS.attempts);
  const attempts = Number(attemptsText);
  if (!/^[0-9]{1,9}$/.test(attemptsText) || attempts < 1) throw new DeadLetterFormatError(DLQ_HEADERS.attempts, 'is not a positive integer');
  const headers = withoutDlqHeaders(h);
  let envelope: Envelope | undefined;
  try {
    envelope = decodeEnvelope(headers);
  } catch {
    envelope = undefined; // poison messages are dead-lettered precisely because their envelope is broken
  }
  const publishedAt = h[DLQ_HEADERS.publishedAt];
  return {
    reason: reason as DeadLetterReason,
    errorClass: required(DLQ_HEADERS.errorClass),
    errorCode: h[DLQ_HEADERS.errorCode],
    errorMessage: h[DLQ_HEADERS.errorMessage] ?? '',
    attempts,
    firstFailureAt: time(DLQ_HEADERS.firstFailureAt, required(DLQ_HEADERS.firstFailureAt)),
    lastFailureAt: time(DLQ_HEADERS.lastFailureAt, required(DLQ_HEADERS.lastFailureAt)),
    topic: required(DLQ_HEADERS.topic),
    group: required(DLQ_HEADERS.group),
    originalId: required(DLQ_HEADERS.originalId),
    key: message.key ?? h[DLQ_HEADERS.key],
    sequence: h[DLQ_HEADERS.sequence],
    publishedAt: publishedAt === undefined ? undefined : time(DLQ_HEADERS.publishedAt, publishedAt),
    headers,
    body: message.body,
    envelope,
  };
}

export interface ReplayOptions {
  /** Where to publish. Default: the topic the message was dead-lettered from. */
  readonly topic?: string;
  /** Deliver no earlier than this many ms from now (requires `features.delay`). */
  readonly delayMs?: number;
  /** Message id of the copy. Default: a fresh id. */
  readonly id?: string;
}

/**
 * Publish a dead-lettered message back to its topic (or `options.topic`): its original key, headers and body,
 * under a fresh message id. The envelope (and so its `ce-id`, which an inbox dedups on) is the original's.
 */
export async function replayDeadLetter(
  broker: Broker,
  record: DeadLetterRecord | ReceivedMessage,
  options: ReplayOptions = {},
): Promise<PublishReceipt> {
  const r = 'reason' in record ? record : readDeadLetter(record);
  return broker.publish(options.topic ?? r.topic, {
    id: options.id ?? newId(),
    key: r.key,
    headers: r.headers,
    body: r.body,
    delayMs: options.delayMs,
  });
}

/** Name, code and message of anything thrown, in a form every broker's headers carry. */
export function describeError(error: unknown): RecordedError {
  if (error instanceof Error) {
    const code = error instanceof CourierError ? error.code : stringCode(error);
    return {
      errorClass: headerSafe(error.name || 'Error'),
      errorCode: code === undefined ? undefined : headerSafe(code),
      errorMessage: headerSafe(error.message),
    };
  }
  return { errorClass: 'NonError', errorCode: undefined, errorMessage: headerSafe(safeString(error)) };
}

/** Copy of `headers` without the `courier-dlq-*` ones. */
export function withoutDlqHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (!name.toLowerCase().startsWith(DLQ_HEADER_PREFIX)) out[name] = headers[name]!;
  }
  return out;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Control characters become spaces, lone surrogates U+FFFD; the text is cut to `MAX_ERROR_MESSAGE` without splitting a surrogate pair. */
function headerSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  let s = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  if (s.length > MAX_ERROR_MESSAGE) {
    let end = MAX_ERROR_MESSAGE - 1;
    const c = s.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
    s = `${s.slice(0, end)}…`;
  }
  return s.replace(LONE_SURROGATE, '\ufffd');
}

function stringCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function time(header: string, text: string): number {
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new DeadLetterFormatError(header, 'is not an RFC 3339 time');
  return t;
}
