import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/async/broker.js';
import { deadLetterId } from '../../../src/async/dlq.js';
import { type ConsumedMessage, type ConsumerEvent, type Inbox, consume, consumeEvent, publishEvent } from '../../../src/async/pipeline/index.js';
import { Context } from '../../../src/core/context.js';
import { CourierError, RateLimitedError, ValidationError } from '../../../src/core/errors.js';
import type { Middleware } from '../../../src/core/middleware.js';
import type { FakeClock } from '../../../src/testing/fake-clock.js';
import { OrderPlaced, TOPIC, dlqReader, drain, fakeBroker, rawEvent } from './helpers.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => broker?.close());

function setup(options: Parameters<typeof fakeBroker>[0] = {}) {
  ({ clock, broker } = fakeBroker(options));
}

const order = (orderId: string, totalCents = 100) => ({ orderId, totalCents });

describe('consume: the happy path', () => {
  it('hands the validated payload and a context built from the envelope to the handler, then acks', async () => {
    setup();
    const seen: Array<{ payload: unknown; ctx: Context; key: string | undefined; type: string }> = [];
    const consumer = await consumeEvent(broker, OrderPlaced, {
      group: 'email',
      clock,
      handler: async (payload, ctx, consumed) => {
        seen.push({ payload, ctx, key: consumed.message.key, type: consumed.envelope.type });
      },
    });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ctx = Context.background.with({ correlationId: 'corr-1', traceparent });
    const receipt = await publishEvent(broker, OrderPlaced, order('o-1', 1200), { ctx, key: 'o-1', clock });
    await drain();
    expect(seen).toHaveLength(1);
    const [got] = seen;
    expect(got!.payload).toEqual(order('o-1', 1200));
    expect(got!.key).toBe('o-1');
    expect(got!.type).toBe('orders.OrderPlaced');
    expect(got!.ctx.correlationId).toBe('corr-1');
    expect(got!.ctx.causationId).toBe(receipt.id);
    expect(got!.ctx.traceparent).toBe(traceparent);
    expect(got!.ctx.attempt).toBe(1);
    expect(got!.ctx.operation).toBe('orders.OrderPlaced');
    expect(got!.ctx.idempotencyKey).toBe(receipt.id);
    expect(consumer.stats).toMatchObject({ handled: 1, retried: 0, deadLettered: 0, inFlight: 0 });
    expect(await broker.lag(TOPIC, 'email')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('passes the raw bytes of a non-JSON body when there is no schema', async () => {
    setup();
    const payloads: unknown[] = [];
    await consume(broker, 'blobs', { group: 'g', clock, handler: async (p) => void payloads.push(p) });
    await broker.publish('blobs', rawEvent(new Uint8Array([0, 255, 7]), 'blob.Stored', { contentType: 'application/octet-stream' }));
    await drain();
    expect(payloads).toEqual([new Uint8Array([0, 255, 7])]);
  });

  it('runs middleware outermost first around the handler, with the consumed message as input', async () => {
    setup();
    const trail: string[] = [];
    const tag =
      (name: string): Middleware<ConsumedMessage<{ orderId: string; totalCents: number }>, void> =>
      (next) =>
      async (input, ctx) => {
        trail.push(`${name}>${input.payload.orderId}`);
        await next(input, ctx.with({ metadata: { ...ctx.metadata, [name]: 'yes' } }));
        trail.push(`<${name}`);
      };
    let metadata: Readonly<Record<string, string>> = {};
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      middleware: [tag('outer'), tag('inner')],
      handler: async (_p, ctx) => {
        trail.push('handler');
        metadata = ctx.metadata;
      },
    });
    await publishEvent(broker, OrderPlaced, order('m-1'));
    await drain();
    expect(trail).toEqual(['outer>m-1', 'inner>m-1', 'handler', '<inner', '<outer']);
    expect(metadata).toEqual({ outer: 'yes', inner: 'yes' });
  });
});

describe('consume: retries and dead letters', () => {
  it('redelivers a failing message with capped exponential backoff, then dead-letters it with its history', async () => {
    setup();
    const dlq = await dlqReader(broker);
    const calls: Array<{ at: number; attempt: number }> = [];
    const consumer = await consumeEvent(broker, OrderPlaced, {
      group: 'billing',
      clock,
      maxAttempts: 5,
      backoff: { baseMs: 100, maxMs: 350, jitter: 'none' },
      handler: async (_p, ctx) => {
        calls.push({ at: clock.now(), attempt: ctx.attempt });
        throw new Error('payment provider down');
      },
    });
    const receipt = await publishEvent(broker, OrderPlaced, order('o-2', 5), { key: 'o-2', clock });
    await drain();
    await clock.advance(5_000);
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5]);
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    expect(gaps).toEqual([100, 200, 350, 350]);
    expect(dlq.records).toHaveLength(1);
    const record = dlq.records[0]!;
    expect(record).toMatchObject({
      reason: 'max-attempts',
      errorClass: 'Error',
      errorCode: undefined,
      errorMessage: 'payment provider down',
      attempts: 5,
      firstFailureAt: calls[0]!.at,
      lastFailureAt: calls[4]!.at,
      topic: TOPIC,
      group: 'billing',
      originalId: receipt.id,
      key: 'o-2',
      sequence: String(receipt.sequence),
    });
    expect(consumer.stats).toMatchObject({ handled: 0, retried: 4, deadLettered: 1, inFlight: 0 });
    await clock.advance(60_000);
    expect(calls).toHaveLength(5); // the original was acked: never delivered again
    expect(await broker.lag(TOPIC, 'billing')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('keeps the original headers, key and body byte for byte in the dead letter', async () => {
    setup();
    const dlq = await dlqReader(broker, 'raw.dlq');
    await consume(broker, 'raw', {
      group: 'g',
      clock,
      maxAttempts: 1,
      handler: async () => {
        throw new Error('no');
      },
    });
    const original = rawEvent('{"a":[1,2,3],"b":"grüße"}', 'raw.Thing', { key: 'k-1' });
    const headers = { ...original.headers, 'x-custom': 'kept', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    await broker.publish('raw', { ...original, headers });
    await drain();
    expect(dlq.raw).toHaveLength(1);
    const letter = dlq.raw[0]!;
    expect(letter.id).toBe(deadLetterId(original.id, 'g'));
    expect(letter.key).toBe('k-1');
    expect(Buffer.from(letter.body)).toEqual(Buffer.from(original.body));
    for (const [name, value] of Object.entries(headers)) expect(letter.headers[name]).toBe(value);
    const record = dlq.records[0]!;
    expect(record.headers).toEqual(headers); // the original headers, exactly, without the courier-dlq-* ones
    expect(record.envelope?.type).toBe('raw.Thing');
    expect(record.publishedAt).toBe(clock.now());
  });

  it('waits at least as long as an error asks (retryAfterMs), within the cap', async () => {
    setup();
    const times: number[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      maxAttempts: 3,
      backoff: { baseMs: 10, maxMs: 1_000, jitter: 'none' },
      handler: async () => {
        times.push(clock.now());
        throw new RateLimitedError(times.length === 1 ? 400 : 5_000);
      },
    });
    await publishEvent(broker, OrderPlaced, order('r'));
    await drain();
    await clock.advance(10_000);
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([400, 1_000]);
  });

  it('dead-letters at once an error marked non-retryable, unless isRetryable says otherwise', async () => {
    setup();
    const dlq = await dlqReader(broker);
    let calls = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      handler: async () => {
        calls++;
        throw new ValidationError([{ path: ['sku'], message: 'unknown sku' }], 'reservation');
      },
    });
    await publishEvent(broker, OrderPlaced, order('v'));
    await drain();
    expect(calls).toBe(1);
    expect(dlq.records[0]).toMatchObject({ reason: 'non-retryable', errorClass: 'ValidationError', errorCode: 'VALIDATION_FAILED', attempts: 1 });

    let overridden = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g2',
      clock,
      maxAttempts: 2,
      backoff: { baseMs: 1, maxMs: 1, jitter: 'none' },
      isRetryable: () => true,
      handler: async () => {
        overridden++;
        throw new CourierError('CARD_DECLINED', 'declined');
      },
    });
    await publishEvent(broker, OrderPlaced, order('w'));
    await drain();
    await clock.advance(10);
    expect(overridden).toBe(2);
  });

  it('sends poison straight to the DLQ, no handler call, and keeps consuming', async () => {
    setup();
    const dlq = await dlqReader(broker);
    const handled: string[] = [];
    const consumer = await consumeEvent(broker, OrderPlaced, { group: 'g', clock, handler: async (p) => void handled.push(p.orderId) });
    await broker.publish(TOPIC, { id: 'no-envelope', headers: {}, body: new TextEncoder().encode('{}') });
    await broker.publish(TOPIC, rawEvent('{"orderId":"x","totalCents":1}', 'orders.Other', { id: 'wrong-type' }));
    await broker.publish(TOPIC, rawEvent(new Uint8Array([0x7b, 0xff, 0x7d]), undefined, { id: 'bad-utf8' }));
    await broker.publish(TOPIC, rawEvent('{oops', undefined, { id: 'not-json' }));
    await broker.publish(TOPIC, rawEvent('{"orderId":7,"totalCents":1}', undefined, { id: 'bad-schema' }));
    await publishEvent(broker, OrderPlaced, order('good'));
    await drain();
    expect(handled).toEqual(['good']);
    const byId = Object.fromEntries(dlq.records.map((r) => [r.originalId, r]));
    expect(Object.keys(byId).sort()).toEqual(['bad-schema', 'bad-utf8', 'no-envelope', 'not-json', 'wrong-type']);
    for (const r of dlq.records) expect(r).toMatchObject({ reason: 'poison', attempts: 1, group: 'g' });
    expect(byId['no-envelope']).toMatchObject({ errorClass: 'EnvelopeError', errorCode: 'INVALID_ENVELOPE', envelope: undefined });
    expect(byId['wrong-type']!.errorMessage).toMatch(/expected "orders.OrderPlaced", got "orders.Other"/);
    expect(byId['bad-utf8']).toMatchObject({ errorClass: 'BodyDecodeError', errorMessage: 'body is not valid UTF-8' });
    expect(byId['not-json']!.errorMessage).toMatch(/not valid JSON/);
    expect(byId['bad-schema']).toMatchObject({ errorClass: 'ValidationError' });
    expect(byId['bad-schema']!.errorMessage).toMatch(/orderId/);
    expect(consumer.stats.deadLettered).toBe(5);
  });

  it('dead-letters a message whose deadline passed instead of handling it', async () => {
    setup();
    const dlq = await dlqReader(broker);
    let calls = 0;
    await consumeEvent(broker, OrderPlaced, { group: 'g', clock, handler: async () => void calls++ });
    await publishEvent(broker, OrderPlaced, order('late'), { ctx: Context.background.withDeadline(clock.now() + 50), delayMs: 100, clock });
    await publishEvent(broker, OrderPlaced, order('in-time'), { ctx: Context.background.withDeadline(clock.now() + 500), delayMs: 100, clock });
    await clock.advance(100);
    expect(calls).toBe(1);
    expect(dlq.records.map((r) => [r.reason, r.errorClass])).toEqual([['expired', 'DeadlineExceededError']]);
  });

  it('with dlqTopic false, drops a dead letter (reported) and acks it', async () => {
    setup();
    const events: ConsumerEvent[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      dlqTopic: false,
      maxAttempts: 1,
      onEvent: (e) => events.push(e),
      handler: async () => {
        throw new Error('x');
      },
    });
    await publishEvent(broker, OrderPlaced, order('d'));
    await drain();
    expect(events.map((e) => e.type)).toEqual(['dead-lettered']);
    expect(events[0]).toMatchObject({ reason: 'max-attempts', dlqTopic: false });
    expect(await broker.lag(TOPIC, 'g')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('does not ack a message whose DLQ publish failed: it comes back and is dead-lettered later', async () => {
    setup();
    let dlqDown = true;
    const flaky: Broker = {
      ...broker,
      name: 'flaky',
      features: broker.features,
      publish: (topic, message) => (dlqDown && topic.endsWith('.dlq') ? Promise.reject(new Error('dlq unavailable')) : broker.publish(topic, message)),
      subscribe: (t, o, h) => broker.subscribe(t, o, h),
      lag: (t, g) => broker.lag(t, g),
      close: () => broker.close(),
    };
    const dlq = await dlqReader(broker);
    const events: ConsumerEvent[] = [];
    await consumeEvent(flaky, OrderPlaced, {
      group: 'g',
      clock,
      maxAttempts: 1,
      backoff: { baseMs: 100, maxMs: 100, jitter: 'none' },
      onEvent: (e) => events.push(e),
      handler: async () => {
        throw new Error('handler bug');
      },
    });
    await publishEvent(broker, OrderPlaced, order('p'));
    await drain();
    expect(events.map((e) => e.type)).toEqual(['error']);
    expect(dlq.records).toHaveLength(0);
    expect((await broker.lag(TOPIC, 'g')).pending).toBe(1); // nacked, waiting for its retry
    dlqDown = false;
    await clock.advance(100);
    expect(dlq.records).toHaveLength(1);
    expect(dlq.records[0]).toMatchObject({ reason: 'max-attempts', attempts: 2, errorMessage: 'handler bug' });
  });

  it('reports but survives a throwing onEvent listener', async () => {
    setup();
    const handled: string[] = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      onEvent: () => {
        throw new Error('listener bug');
      },
      handler: async (p) => void handled.push(p.orderId),
    });
    await publishEvent(broker, OrderPlaced, order('a'));
    await publishEvent(broker, OrderPlaced, order('b'));
    await drain();
    expect(handled).toEqual(['a', 'b']);
  });
});

describe('consume: the inbox', () => {
  function memoryInbox() {
    const done = new Set<string>();
    const calls: string[] = [];
    const inbox: Inbox = {
      check: async (id, group) => {
        calls.push(`check ${id}`);
        return done.has(`${group}/${id}`) ? 'duplicate' : 'new';
      },
      commit: async (id, group) => {
        calls.push(`commit ${id}`);
        done.add(`${group}/${id}`);
      },
    };
    return { inbox, calls };
  }

  it('runs the handler once for duplicate deliveries, and commits only after success', async () => {
    setup({ faults: { duplicateRate: 1, seed: 7 } }); // every message is stored twice
    const { inbox, calls } = memoryInbox();
    const handled: string[] = [];
    const consumer = await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      concurrency: 1,
      inbox,
      handler: async (p) => void handled.push(p.orderId),
    });
    const ids: string[] = [];
    for (const id of ['a', 'b']) ids.push((await publishEvent(broker, OrderPlaced, order(id))).id);
    await drain();
    expect(handled).toEqual(['a', 'b']);
    expect(consumer.stats).toMatchObject({ handled: 2, duplicates: 2 });
    expect(calls).toEqual([`check ${ids[0]}`, `commit ${ids[0]}`, `check ${ids[0]}`, `check ${ids[1]}`, `commit ${ids[1]}`, `check ${ids[1]}`]);
  });

  it('does not commit a failed attempt, so the retry runs the handler', async () => {
    setup();
    const { inbox, calls } = memoryInbox();
    let attempts = 0;
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      inbox,
      backoff: { baseMs: 10, maxMs: 10, jitter: 'none' },
      handler: async () => {
        if (++attempts === 1) throw new Error('first attempt fails');
      },
    });
    const { id } = await publishEvent(broker, OrderPlaced, order('i'));
    await drain();
    await clock.advance(10);
    expect(attempts).toBe(2);
    expect(calls).toEqual([`check ${id}`, `check ${id}`, `commit ${id}`]);
  });
});

describe('consume: options', () => {
  it('rejects a bad configuration when the consumer is created', async () => {
    setup();
    const handler = async () => undefined;
    await expect(consume(broker, 't', { group: '', handler })).rejects.toThrow(TypeError);
    await expect(consume(broker, 't', { group: 'g', handler, maxAttempts: 0 })).rejects.toThrow(RangeError);
    await expect(consume(broker, 't', { group: 'g', handler, backoff: { baseMs: 10, maxMs: 5 } })).rejects.toThrow(RangeError);
    await expect(consume(broker, 't', { group: 'g', handler, dlqTopic: 't' })).rejects.toThrow(RangeError);
    await expect(consume(broker, 't', { group: 'g', handler, event: OrderPlaced, schema: OrderPlaced.schema })).rejects.toThrow(TypeError);
  });
});
