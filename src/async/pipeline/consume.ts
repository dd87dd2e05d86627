/**
 * The entry points of the consumer pipeline: `consume` a topic, or `consumeEvent` a contract event from its
 * default topic. What happens to each message is described in `consumer.ts`; the options in `options.ts`.
 */
import type { EventDef, EventPayload, Schema } from '../../core/contract.js';
import type { Broker } from '../broker.js';
import { type Consumer, Pipeline } from './consumer.js';
import type { ConsumeOptions } from './options.js';
import { topicOf } from './publish.js';

export type { CloseOptions, Consumer, ConsumerStats } from './consumer.js';
export type { BackoffSettings, ConsumeOptions, ConsumedMessage, MessageHandler } from './options.js';
export type { Inbox, InboxStatus } from './inbox.js';

/** Start consuming `topic` through the pipeline. Resolves once the subscription is active. */
export async function consume<T = unknown>(broker: Broker, topic: string, options: ConsumeOptions<T>): Promise<Consumer> {
  const pipeline = new Pipeline(broker, topic, options);
  await pipeline.start();
  return pipeline;
}

/** Consume a contract event from its default topic (`topicOf(event)`): its schema validates, its type must match. */
export function consumeEvent<E extends EventDef>(
  broker: Broker,
  event: E,
  options: Omit<ConsumeOptions<EventPayload<E>>, 'event' | 'schema'>,
): Promise<Consumer> {
  return consume(broker, topicOf(event), { ...options, event: event as EventDef<Schema<EventPayload<E>>> });
}
