/**
 * Shared set-up for the pipeline tests: a memory broker on a FakeClock, a contract event, a DLQ reader, and
 * a broker wrapper that takes features away (to test what the pipeline emulates).
 */
import { z } from 'zod';
import type { Broker, BrokerFeatures, Delivery, NackOptions, ReceivedMessage } from '../../../src/async/broker.js';
import { type DeadLetterRecord, readDeadLetter } from '../../../src/async/dlq.js';
import { memoryBroker, type MemoryBrokerOptions } from '../../../src/async/memory/index.js';
import { event, service } from '../../../src/core/contract.js';
import { createEnvelope, encodeEnvelope } from '../../../src/core/envelope.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { settle } from '../../../src/testing/fake-clock.js';

export const Orders = service('orders', {
  events: {
    OrderPlaced: event(z.object({ orderId: z.string(), totalCents: z.number().int().nonnegative() })),
  },
});
export const OrderPlaced = Orders.events.OrderPlaced;
export const TOPIC = 'orders.OrderPlaced';

export function fakeBroker(options: MemoryBrokerOptions = {}): { clock: FakeClock; broker: Broker } {
  const clock = new FakeClock();
  return { clock, broker: memoryBroker({ clock, ...options }) };
}

/** Let deliveries and handlers run (microtasks and immediates) without moving time. */
export async function drain(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await settle();
}

/** Collect what lands on a DLQ topic (the group exists from now on). */
export async function dlqReader(broker: Broker, dlqTopic = `${TOPIC}.dlq`): Promise<{ records: DeadLetterRecord[]; raw: ReceivedMessage[] }> {
  const records: DeadLetterRecord[] = [];
  const raw: ReceivedMessage[] = [];
  await broker.subscribe(dlqTopic, { group: 'dlq-reader' }, async (d) => {
    raw.push(d.message);
    records.push(readDeadLetter(d.message));
    await d.ack();
  });
  return { records, raw };
}

export const utf8 = new TextEncoder();

/** A raw message with a valid envelope of `type` and `body` as its bytes. */
export function rawEvent(body: string | Uint8Array, type = OrderPlaced.type, extra: { id?: string; key?: string; contentType?: string } = {}) {
  const envelope = createEnvelope({ type, source: '/test', id: extra.id, datacontenttype: extra.contentType });
  return {
    id: envelope.id,
    key: extra.key,
    headers: encodeEnvelope(envelope),
    body: typeof body === 'string' ? utf8.encode(body) : body,
  };
}

export interface Stripped {
  readonly orderingByKey?: false;
  readonly delay?: false;
}

/**
 * `inner` with features taken away. Without `orderingByKey` the key travels in a header, so the inner
 * broker cannot hold keyed messages back; without `delay` nack delays are recorded (and must be 0).
 */
export function withoutFeatures(inner: Broker, strip: Stripped): Broker & { nackDelays: number[] } {
  const nackDelays: number[] = [];
  const features: BrokerFeatures = { ...inner.features, ...strip };
  const noOrder = strip.orderingByKey === false;
  return {
    name: `${inner.name}-stripped`,
    features,
    nackDelays,
    publish: (topic, message) =>
      inner.publish(topic, noOrder && message.key !== undefined ? { ...message, key: undefined, headers: { ...message.headers, 'x-key': message.key } } : message),
    subscribe: (topic, options, handler) =>
      inner.subscribe(topic, options, (d) => {
        const key = noOrder ? d.message.headers['x-key'] : d.message.key;
        const wrapped: Delivery = {
          message: { ...d.message, key },
          ack: () => d.ack(),
          nack: (o?: NackOptions) => {
            nackDelays.push(o?.delayMs ?? 0);
            return d.nack(o);
          },
          extend: (ms?: number) => d.extend(ms),
        };
        return handler(wrapped);
      }),
    lag: (topic, group) => inner.lag(topic, group),
    close: () => inner.close(),
  };
}
