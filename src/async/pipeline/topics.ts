import type { EventDef } from '../../core/contract.js';

/** The topic an event is published to: its CloudEvents type (e.g. `orders.OrderPlaced`). */
export function topicOf(event: Pick<EventDef, 'type'>): string {
  return event.type;
}

/** Where the consumer pipeline dead-letters messages of `topic`. */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}.dlq`;
}
