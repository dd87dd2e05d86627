/**
 * The publish side of the pipeline: validate a payload against its contract event, encode it as JSON,
 * wrap it in a CloudEvents envelope that carries the caller's context (trace, correlation, causation,
 * deadline), and publish it. An invalid payload throws `ValidationError` and nothing is published: bad data
 * is stopped at its producer, not discovered by every consumer.
 */
import { type Clock, systemClock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { EventDef, EventPayload } from '../../core/contract.js';
import { createEnvelope, encodeEnvelope } from '../../core/envelope.js';
import { compile } from '../../schema/compile.js';
import type { Broker, OutgoingMessage, PublishReceipt } from '../broker.js';

export interface PublishEventOptions {
  /** Destination. Default: the event's type (`topicOf(event)`). */
  readonly topic?: string;
  /** The context the event is published in: its trace, correlation id, causation id and deadline travel. */
  readonly ctx?: Context;
  /** Ordering key (e.g. the aggregate id): events of one key are consumed in order where the broker can. */
  readonly key?: string;
  /** Deliver no earlier than this many ms from now (requires `features.delay`). */
  readonly delayMs?: number;
  /** CloudEvents `subject` (what the event is about, e.g. an order id). */
  readonly subject?: string;
  /** CloudEvents `source`. Default `/<service>`. */
  readonly source?: string;
  /** Message and envelope id. Default: a fresh UUIDv7. Reuse one to let dedup drop a re-publish. */
  readonly id?: string;
  /** Further CloudEvents extension attributes. */
  readonly extensions?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
}

const utf8 = new TextEncoder();

/** The topic an event is published to by default: its CloudEvents type, e.g. `orders.OrderPlaced`. */
export function topicOf(event: Pick<EventDef, 'type'>): string {
  return event.type;
}

/** The `dataschema` Courier writes for an event: `urn:courier:schema:<type>:<version>`. */
export function dataschemaOf(event: Pick<EventDef, 'type' | 'version'>): string {
  return `urn:courier:schema:${event.type}:${event.version ?? 1}`;
}

/** Validate and encode `payload` as the message `publishEvent` would send (for outboxes and batching). */
export async function eventMessage<E extends EventDef>(
  event: E,
  payload: EventPayload<E>,
  options: Omit<PublishEventOptions, 'topic'> = {},
): Promise<OutgoingMessage> {
  const validator = compile(event.schema);
  const what = `${event.type} payload`;
  const value = validator.compiled
    ? validator.validate(payload, what)
    : await validator.validateAsync(payload, what);
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`${what} does not serialise to JSON`);
  const envelope = createEnvelope(
    {
      type: event.type,
      source: options.source ?? `/${event.service}`,
      id: options.id,
      subject: options.subject,
      datacontenttype: 'application/json',
      dataschema: dataschemaOf(event),
      extensions: options.extensions === undefined ? undefined : { ...options.extensions },
    },
    options.ctx,
    options.clock ?? systemClock,
  );
  return {
    id: envelope.id,
    key: options.key,
    headers: encodeEnvelope(envelope),
    body: utf8.encode(json),
    delayMs: options.delayMs,
  };
}

/** Validate, encode and publish one event. Resolves with the broker's receipt once the publish is durable. */
export async function publishEvent<E extends EventDef>(
  broker: Broker,
  event: E,
  payload: EventPayload<E>,
  options: PublishEventOptions = {},
): Promise<PublishReceipt> {
  const message = await eventMessage(event, payload, options);
  return broker.publish(options.topic ?? topicOf(event), message);
}
