import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Broker, ReceivedMessage } from '../../../src/async/broker.js';
import { memoryBroker } from '../../../src/async/memory/index.js';
import {
  type Inbox,
  consumeEvent,
  consume,
  publishEvent,
  readDeadLetter,
  redeliveryDelay,
  replayDeadLetter,
  topicOf,
} from '../../../src/async/pipeline/index.js';
import { event, service } from '../../../src/core/contract.js';
import { Context } from '../../../src/core/context.js';
import { encodeEnvelope, createEnvelope } from '../../../src/core/envelope.js';
import { CourierError, ValidationError } from '../../../src/core/errors.js';
import { waitFor } from '../../../src/testing/index.js';

const Orders = service('orders', {
  events: {
    OrderPlaced: event(z.object({ orderId: z.string(), totalCents: z.number().int().nonnegative() })),
  },
});
const OrderPlaced = Orders.events.OrderPlaced;
const fast = { baseMs: 1, maxMs: 5 };

let broker: Broker;
afterEach(async () => broker?.close());

async function deadLetters(b: Broker, topic: string, count: number): Promise<ReceivedMessage[]> {
  const got: ReceivedMessage[] = [];
  const sub = await b.subscribe(
    `${topic}.dlq`,
    { group: 'inspect', start: { from: 'earliest' } },
    async (d) => {
      got.push(d.message);
      await d.ack();
    },
  );
  await waitFor(() => got.length >= count, `${count} dead letters`);
  await sub.close();
  return got;
}

describe('consumer pipeline', () => {
  it('delivers a published contract event to the handler with its context', async () => {
    broker = memoryBroker();
    const seen: Array<{ payload: unknown; correlationId?: string; attempt: number }> = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'email',
      handler: async (payload, ctx) => {
        seen.push({ payload, correlationId: ctx.correlationId, attempt: ctx.attempt });
      },
    });
    const ctx = Context.background.with({ correlationId: 'corr-1' });
    await publishEvent(broker, OrderPlaced, { orderId: 'o-1', totalCents: 1200 }, { ctx, key: 'o-1' });
    await waitFor(() => seen.length === 1, 'delivery');
    expect(seen[0]).toEqual({
      payload: { orderId: 'o-1', totalCents: 1200 },
      correlationId: 'corr-1',
      attempt: 1,
    });
  });

  it('refuses to publish a payload that breaks the contract', async () => {
    broker = memoryBroker();
    await expect(publishEvent(broker, OrderPlaced, { orderId: 'o', totalCents: -1 })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('retries a failing handler with backoff, then dead-letters it with the full story', async () => {
    broker = memoryBroker();
    let calls = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'billing',
      maxAttempts: 3,
      backoff: fast,
      handler: async () => {
        calls++;
        throw new Error('payment provider down');
      },
    });
    const receipt = await publishEvent(
      broker,
      OrderPlaced,
      { orderId: 'o-2', totalCents: 5 },
      { key: 'o-2' },
    );
    const [letter] = await deadLetters(broker, topicOf(OrderPlaced), 1);
    expect(calls).toBe(3);
    const dl = readDeadLetter(letter!);
    expect(dl).toMatchObject({
      reason: 'max-attempts',
      errorClass: 'Error',
      errorMessage: 'payment provider down',
      attempts: 3,
      topic: 'orders.OrderPlaced',
      group: 'billing',
      originalId: receipt.id,
      key: 'o-2',
    });
    expect(dl.lastFailureAt).toBeGreaterThanOrEqual(dl.firstFailureAt);
    expect(JSON.parse(new TextDecoder().decode(dl.body))).toEqual({ orderId: 'o-2', totalCents: 5 });
    expect(dl.headers['ce-type']).toBe('orders.OrderPlaced');
  });

  it('does not retry an error marked non-retryable', async () => {
    broker = memoryBroker();
    let calls = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      backoff: fast,
      handler: async () => {
        calls++;
        throw new CourierError('CARD_DECLINED', 'card declined', { retryable: false });
      },
    });
    await publishEvent(broker, OrderPlaced, { orderId: 'o', totalCents: 1 });
    const [letter] = await deadLetters(broker, topicOf(OrderPlaced), 1);
    expect(calls).toBe(1);
    expect(readDeadLetter(letter!)).toMatchObject({
      reason: 'non-retryable',
      errorCode: 'CARD_DECLINED',
      attempts: 1,
    });
  });

  it('sends poison messages straight to the DLQ and keeps consuming', async () => {
    broker = memoryBroker();
    const handled: string[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      handler: async (p) => {
        handled.push(p.orderId);
      },
    });
    const topic = topicOf(OrderPlaced);
    const env = createEnvelope({ type: OrderPlaced.type, source: '/test' });
    await broker.publish(topic, { id: 'no-envelope', headers: {}, body: new TextEncoder().encode('{}') });
    await broker.publish(topic, {
      id: 'not-json',
      headers: encodeEnvelope(env),
      body: new TextEncoder().encode('{oops'),
    });
    const env2 = createEnvelope({ type: OrderPlaced.type, source: '/test' });
    await broker.publish(topic, {
      id: 'bad-schema',
      headers: encodeEnvelope(env2),
      body: new TextEncoder().encode('{"orderId":7,"totalCents":1}'),
    });
    await publishEvent(broker, OrderPlaced, { orderId: 'good', totalCents: 1 });
    const letters = (await deadLetters(broker, topic, 3)).map(readDeadLetter);
    await waitFor(() => handled.length === 1, 'the good message');
    expect(handled).toEqual(['good']);
    expect(letters.map((l) => l.reason)).toEqual(['poison', 'poison', 'poison']);
    const byId = Object.fromEntries(letters.map((l) => [l.originalId, l]));
    expect(byId['no-envelope']!.errorClass).toBe('EnvelopeError');
    expect(byId['not-json']!.errorMessage).toMatch(/not JSON/);
    expect(byId['bad-schema']!.errorMessage).toMatch(/orderId/);
  });

  it('dead-letters a message whose deadline passed instead of handling it', async () => {
    broker = memoryBroker();
    let calls = 0;
    await consumeEvent(broker, OrderPlaced, { group: 'g', handler: async () => void calls++ });
    const ctx = Context.background.withDeadline(Date.now() - 1);
    await publishEvent(broker, OrderPlaced, { orderId: 'late', totalCents: 1 }, { ctx });
    const [letter] = await deadLetters(broker, topicOf(OrderPlaced), 1);
    expect(readDeadLetter(letter!).reason).toBe('expired');
    expect(calls).toBe(0);
  });

  it('a replayed dead letter is handled again once the cause is fixed', async () => {
    broker = memoryBroker();
    let broken = true;
    const handled: string[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      maxAttempts: 1,
      handler: async (p) => {
        if (broken) throw new Error('bug');
        handled.push(p.orderId);
      },
    });
    await publishEvent(broker, OrderPlaced, { orderId: 'o-9', totalCents: 9 });
    const [letter] = await deadLetters(broker, topicOf(OrderPlaced), 1);
    broken = false;
    await replayDeadLetter(broker, letter!);
    await waitFor(() => handled.length === 1, 'the replayed message');
    expect(handled).toEqual(['o-9']);
  });

  it('skips messages the inbox has seen (duplicate deliveries run the handler once)', async () => {
    broker = memoryBroker({ faults: { duplicateRate: 1, seed: 7 } });
    const remembered = new Set<string>();
    const inbox: Inbox = {
      seen: async (id, group) => remembered.has(`${group}/${id}`),
      remember: async (id, group) => void remembered.add(`${group}/${id}`),
    };
    const handled: string[] = [];
    let duplicates = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      concurrency: 1,
      inbox,
      onEvent: (e) => void (e.kind === 'duplicate' && duplicates++),
      handler: async (p) => void handled.push(p.orderId),
    });
    for (const id of ['a', 'b', 'c']) await publishEvent(broker, OrderPlaced, { orderId: id, totalCents: 1 });
    await waitFor(() => duplicates === 3, 'three duplicates skipped');
    expect(handled).toEqual(['a', 'b', 'c']);
  });

  it('close() lets the running handler finish and loses nothing', async () => {
    broker = memoryBroker();
    const done: string[] = [];
    const consumer = await consume<{ orderId: string }>(broker, 'jobs', {
      group: 'g',
      concurrency: 2,
      handler: async (p) => {
        await new Promise((r) => setTimeout(r, 30));
        done.push(p.orderId);
      },
    });
    const env = () => encodeEnvelope(createEnvelope({ type: 'jobs.Job', source: '/t' }));
    for (let i = 0; i < 10; i++) {
      await broker.publish('jobs', {
        id: `j${i}`,
        headers: env(),
        body: new TextEncoder().encode(JSON.stringify({ orderId: `j${i}` })),
      });
    }
    await waitFor(() => done.length >= 1, 'some progress');
    await consumer.close();
    const afterClose = done.length;
    await consume<{ orderId: string }>(broker, 'jobs', {
      group: 'g',
      handler: async (p) => void done.push(p.orderId),
    });
    await waitFor(() => new Set(done).size === 10, 'all ten');
    expect(afterClose).toBeGreaterThanOrEqual(1);
  });

  it('keeps redelivery delays inside their jitter bounds and under the cap', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (const r of [0, 0.25, 0.5, 0.999]) {
        const full = redeliveryDelay(attempt, { baseMs: 100, maxMs: 5_000, jitter: 'full', random: () => r });
        expect(full).toBeGreaterThanOrEqual(0);
        expect(full).toBeLessThanOrEqual(Math.min(5_000, 100 * 2 ** (attempt - 1)));
        const none = redeliveryDelay(attempt, { baseMs: 100, maxMs: 5_000, jitter: 'none', random: () => r });
        expect(none).toBe(Math.min(5_000, 100 * 2 ** (attempt - 1)));
      }
    }
  });
});
