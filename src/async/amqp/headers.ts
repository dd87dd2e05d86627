/**
 * Courier messages as AMQP 0-9-1 messages, and back.
 *
 * | Courier                         | AMQP                                                        |
 * |---------------------------------|-------------------------------------------------------------|
 * | `id`                            | `message-id` property                                       |
 * | `key`                           | routing key, and header `x-courier-key`                     |
 * | header `content-type`           | `content-type` property                                     |
 * | headers `ce-<attr>`             | headers `ce_<attr>` (the `ce_` prefix of the AMQP/Kafka bindings) |
 * | other headers (`traceparent`, …) | headers of the same name                                   |
 * | body                            | body bytes                                                  |
 * | delivery attempt                | header `x-courier-attempt` on redelivered copies, plus the `redelivered` flag / `x-delivery-count` |
 * | publish time                    | `timestamp` property (seconds, as AMQP defines it)           |
 *
 * Messages are persistent (delivery mode 2). A foreign client (e.g. pika) that sets `ce_*` headers and a
 * body produces a message a Courier consumer can decode.
 */
import type { ConsumeMessage, Options } from 'amqplib';
import type { OutgoingMessage } from '../broker.js';
import { COURIER_PREFIX, positiveIntHeader, renamePrefix } from '../adapter-kit/header-names.js';
import { setOwn } from '../../core/own-record.js';

export const AMQP_PREFIX = 'ce_';
export const KEY_HEADER = 'x-courier-key';
export const ATTEMPT_HEADER = 'x-courier-attempt';
const CONTENT_TYPE = 'content-type';

export function publishOptions(message: OutgoingMessage, now: number): Options.Publish {
  const source = message.headers ?? {};
  const headers: Record<string, string> = renamePrefix(source, COURIER_PREFIX, AMQP_PREFIX);
  let contentType: string | undefined;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === CONTENT_TYPE) {
      contentType = headers[name];
      delete headers[name];
    }
  }
  if (message.key !== undefined) headers[KEY_HEADER] = message.key;
  return {
    persistent: true,
    messageId: message.id,
    timestamp: Math.floor(now / 1000),
    ...(contentType === undefined ? {} : { contentType }),
    headers,
  };
}

export interface DecodedDelivery {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly attempt: number;
  readonly publishedAt: number | undefined;
}

/** Decode a delivery. `topicExchange` is the exchange whose routing keys are message keys. */
export function decodeDelivery(msg: ConsumeMessage, topicExchange: string): DecodedDelivery {
  const props = msg.properties;
  const raw = (props.headers ?? {}) as Record<string, unknown>;
  const strings: Record<string, string> = {};
  for (const name of Object.keys(raw)) {
    const lower = name.toLowerCase();
    if (lower === KEY_HEADER || lower === ATTEMPT_HEADER || lower.startsWith('x-death') || lower.startsWith('x-first-death') || lower.startsWith('x-last-death') || lower === 'x-delivery-count') continue;
    const value = headerString(raw[name]);
    if (value !== undefined) setOwn(strings, name, value);
  }
  const headers = renamePrefix(strings, AMQP_PREFIX, COURIER_PREFIX);
  if (typeof props.contentType === 'string') headers[CONTENT_TYPE] = props.contentType;
  const keyHeader = headerString(raw[KEY_HEADER]);
  const key = keyHeader ?? (msg.fields.exchange === topicExchange && msg.fields.routingKey !== '' ? msg.fields.routingKey : undefined);
  const base = positiveIntHeader(headerString(raw[ATTEMPT_HEADER])) ?? 1;
  const returns = typeof raw['x-delivery-count'] === 'number' ? raw['x-delivery-count'] : undefined;
  const attempt = msg.fields.redelivered ? base + Math.max(1, returns ?? 1) : base;
  const id = typeof props.messageId === 'string' && props.messageId !== '' ? props.messageId : (headers[`${COURIER_PREFIX}id`] ?? `amqp-${msg.fields.deliveryTag}`);
  const timestamp = typeof props.timestamp === 'number' ? props.timestamp * 1000 : undefined;
  return { id, key, headers, attempt, publishedAt: timestamp };
}

/** Publish options for a redelivery copy of `msg` counting `attempt`. */
export function copyOptions(msg: ConsumeMessage, attempt: number): Options.Publish {
  const props = msg.properties;
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(props.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-death') || lower.startsWith('x-first-death') || lower.startsWith('x-last-death') || lower === 'x-delivery-count') continue;
    headers[name] = value;
  }
  headers[ATTEMPT_HEADER] = String(attempt);
  if (headers[KEY_HEADER] === undefined && msg.fields.routingKey !== '') headers[KEY_HEADER] = msg.fields.routingKey;
  return {
    persistent: true,
    ...(props.messageId === undefined ? {} : { messageId: props.messageId }),
    ...(props.contentType === undefined ? {} : { contentType: props.contentType as string }),
    ...(props.timestamp === undefined ? {} : { timestamp: props.timestamp as number }),
    headers,
  };
}

function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}
