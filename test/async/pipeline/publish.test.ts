import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, ReceivedMessage } from '../../../src/async/broker.js';
import { eventMessage, publishEvent, topicOf } from '../../../src/async/pipeline/index.js';
import { Context } from '../../../src/core/context.js';
import { decodeEnvelope } from '../../../src/core/envelope.js';
import { ValidationError } from '../../../src/core/errors.js';
import type { FakeClock } from '../../../src/testing/fake-clock.js';
import { OrderPlaced, TOPIC, drain, fakeBroker } from './helpers.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => broker?.close());

describe('publishEvent', () => {
  it('publishes a CloudEvents envelope with a JSON body to the event topic', async () => {
    ({ clock, broker } = fakeBroker());
    const got: ReceivedMessage[] = [];
    await broker.subscribe(TOPIC, { group: 'raw' }, async (d) => {
      got.push(d.message);
      await d.ack();
    });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ctx = Context.background.with({ correlationId: 'c-1', causationId: 'cause-1', traceparent, deadline: clock.now() + 5_000 });
    const receipt = await publishEvent(broker, OrderPlaced, { orderId: 'o-1', totalCents: 5 }, { ctx, key: 'o-1', subject: 'o-1', clock });
    await drain();
    expect(topicOf(OrderPlaced)).toBe(TOPIC);
    expect(got).toHaveLength(1);
    const message = got[0]!;
    expect(message.id).toBe(receipt.id);
    expect(message.key).toBe('o-1');
    expect(JSON.parse(new TextDecoder().decode(message.body))).toEqual({ orderId: 'o-1', totalCents: 5 });
    expect(message.headers['content-type']).toBe('application/json');
    expect(decodeEnvelope(message.headers)).toMatchObject({
      id: receipt.id,
      type: 'orders.OrderPlaced',
      source: '/orders',
      subject: 'o-1',
      dataschema: 'urn:courier:schema:orders.OrderPlaced:1',
      time: new Date(clock.now()).toISOString(),
      correlationid: 'c-1',
      causationid: 'cause-1',
      traceparent,
      deadline: clock.now() + 5_000,
    });
  });

  it('refuses a payload that breaks the contract and publishes nothing', async () => {
    ({ clock, broker } = fakeBroker());
    await broker.subscribe(TOPIC, { group: 'raw' }, async (d) => d.ack());
    await expect(publishEvent(broker, OrderPlaced, { orderId: 'o', totalCents: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(
      publishEvent(broker, OrderPlaced, { orderId: 3 } as unknown as { orderId: string; totalCents: number }),
    ).rejects.toThrow(/orderId/);
    expect(await broker.lag(TOPIC, 'raw')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('honours topic, delay and id options', async () => {
    ({ clock, broker } = fakeBroker());
    const got: Array<{ id: string; at: number }> = [];
    await broker.subscribe('elsewhere', { group: 'raw' }, async (d) => {
      got.push({ id: d.message.id, at: clock.now() });
      await d.ack();
    });
    const start = clock.now();
    await publishEvent(broker, OrderPlaced, { orderId: 'o', totalCents: 1 }, { topic: 'elsewhere', delayMs: 250, id: 'fixed-id', clock });
    await drain();
    expect(got).toEqual([]);
    await clock.advance(250);
    expect(got).toEqual([{ id: 'fixed-id', at: start + 250 }]);
  });

  it('eventMessage builds the same message without publishing it', async () => {
    const message = await eventMessage(OrderPlaced, { orderId: 'o', totalCents: 1 }, { key: 'k' });
    expect(message.key).toBe('k');
    expect(decodeEnvelope(message.headers).id).toBe(message.id);
  });
});
