/**
 * RabbitMQ adapter against a real RabbitMQ (scripts/brokers.sh start rabbitmq): the message layout a foreign
 * AMQP client sees, fan-out and competing consumers, attempt counting through redelivery copies (classic and
 * quorum queues), TTL-queue delays, the adapter-kept lease on a FakeClock, lag, and a 10k-message run with
 * every connection cut mid-way.
 */
import { connect, type ChannelModel, type GetMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/async/broker.js';
import { amqpBroker, amqpFeatures, delayBucket, type AmqpBroker } from '../../src/async/amqp/index.js';
import { MessageTooLargeError } from '../../src/core/errors.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { runBrokerConformance } from '../../src/testing/index.js';
import { brokerTarget, unique } from './support/env.js';
import { reconnectRun } from './support/reconnect.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { TrackingBroker } from './support/tracking-broker.js';
import { bytes, sleep, text, until } from './support/wait.js';

const target = await brokerTarget('rabbitmq');

/** Delete the exchanges and group queues a case declared (retry and delay queues expire by themselves). */
async function removeTopology(topics: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
  const model = await connect(target.url);
  const ch = await model.createChannel();
  for (const [topic, groups] of topics) {
    for (const group of groups) await ch.deleteQueue(`${topic}.${group}`);
    await ch.deleteExchange(topic);
  }
  await model.close();
}

for (const queueType of ['classic', 'quorum'] as const) {
  describe.skipIf(!target.available)(`amqp conformance (${queueType} queues)`, () => {
    runBrokerConformance({
      describe,
      it,
      name: `amqp-${queueType}`,
      features: amqpFeatures(1024 * 1024),
      create: () => new TrackingBroker(amqpBroker({ url: target.url, queueType }), removeTopology),
    });
  });
}

describe('delay buckets', () => {
  it('round a delay up by at most 12.5 %, to few distinct values', () => {
    for (const ms of [1, 7, 99, 100, 1000, 1001, 30_000, 86_400_000]) {
      const b = delayBucket(ms);
      expect(b).toBeGreaterThanOrEqual(ms);
      expect(b).toBeLessThanOrEqual(Math.ceil(ms * 1.125));
    }
    const buckets = new Set(Array.from({ length: 1000 }, (_, i) => delayBucket(1000 + i)));
    expect(buckets.size).toBeLessThanOrEqual(9);
    expect(delayBucket(0)).toBe(0);
  });
});

describe.skipIf(!target.available)('amqp adapter', () => {
  let broker: AmqpBroker;
  let raw: ChannelModel;
  const topics: string[] = [];
  const topic = (name: string): string => {
    const t = unique(name);
    topics.push(t);
    return t;
  };

  beforeAll(async () => {
    broker = amqpBroker({ url: target.url });
    raw = await connect(target.url);
  });
  afterAll(async () => {
    await broker.close();
    const ch = await raw.createChannel();
    for (const t of topics) {
      await ch.deleteExchange(t);
      for (const g of ['g', 'a', 'b']) await ch.deleteQueue(`${t}.${g}`);
    }
    await raw.close();
  });

  const msg = (id: string, extra: object = {}) => ({ id, headers: { 'ce-type': 'test', 'ce-source': '/t', 'content-type': 'text/plain' }, body: bytes(`body-${id}`), ...extra });

  it('carries id, key, ce_ headers, content type and body as AMQP properties and headers', async () => {
    const t = topic('a-layout');
    const ch = await raw.createChannel();
    await ch.assertExchange(t, 'topic', { durable: true });
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, t, '#');
    await broker.publish(t, msg('a1', { key: 'k1', headers: { 'ce-type': 'x', 'content-type': 'application/json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } }));
    let got: false | GetMessage = false;
    await until(async () => (got = await ch.get(q.queue, { noAck: true })) !== false, 'raw message');
    const m = got as unknown as GetMessage;
    expect(m.fields.routingKey).toBe('k1');
    expect(m.properties).toMatchObject({ messageId: 'a1', contentType: 'application/json', deliveryMode: 2 });
    expect(m.properties.headers).toEqual({ ce_type: 'x', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-courier-key': 'k1' });
    expect(text(m.content)).toBe('body-a1');
    await ch.close();

    const received: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
      received.push(d);
      await d.ack();
    });
    await broker.publish(t, msg('a2', { key: 'k2' }));
    await until(() => received.length === 1, 'delivery');
    expect(received[0]!.message).toMatchObject({ id: 'a2', key: 'k2', topic: t, attempt: 1, headers: { 'ce-type': 'test', 'ce-source': '/t', 'content-type': 'text/plain' } });
    expect(text(received[0]!.message.body)).toBe('body-a2');
    await sub.close();
  });

  it('gives every group every message and splits a group between its consumers', async () => {
    const t = topic('a-fan');
    const a: string[] = [];
    const b1: string[] = [];
    const b2: string[] = [];
    const subs = [
      await broker.subscribe(t, { group: 'a' }, async (d) => void (a.push(d.message.id), await d.ack())),
      await broker.subscribe(t, { group: 'b', prefetch: 1 }, async (d) => {
        b1.push(d.message.id);
        await sleep(2);
        await d.ack();
      }),
      await broker.subscribe(t, { group: 'b', prefetch: 1 }, async (d) => {
        b2.push(d.message.id);
        await sleep(2);
        await d.ack();
      }),
    ];
    await Promise.all(Array.from({ length: 40 }, (_, i) => broker.publish(t, msg(`m${i}`))));
    await until(() => a.length === 40 && b1.length + b2.length === 40, 'all deliveries');
    expect(new Set(a).size).toBe(40);
    expect(new Set([...b1, ...b2]).size).toBe(40);
    expect(b1.length).toBeGreaterThan(0);
    expect(b2.length).toBeGreaterThan(0);
    await Promise.all(subs.map((s) => s.close()));
  });

  for (const queueType of ['classic', 'quorum'] as const) {
    it(`counts attempts across nack, a thrown handler and a released delivery (${queueType} queue)`, async () => {
      const typed = amqpBroker({ url: target.url, queueType });
      const t = topic(`a-nack-${queueType}`);
      const attempts: number[] = [];
      let sub = await typed.subscribe(t, { group: 'g' }, async (d) => {
        attempts.push(d.message.attempt);
        if (d.message.attempt === 1) await d.nack();
        else if (d.message.attempt === 2) throw new Error('handler failed');
        // attempt 3: left unsettled, released by close
      });
      await typed.publish(t, msg('n1'));
      await until(() => attempts.length === 3, 'three attempts');
      await sub.close();
      sub = await typed.subscribe(t, { group: 'g' }, async (d) => {
        attempts.push(d.message.attempt);
        await d.ack();
      });
      await until(() => attempts.length === 4, 'redelivery after close');
      expect(attempts).toEqual([1, 2, 3, 4]);
      await sub.close();
      await typed.close();
    });
  }

  it('delays a nacked message and a delayed publish through TTL queues (never early)', async () => {
    const t = topic('a-delay');
    const seen: Array<[string, number, number]> = [];
    const sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
      seen.push([d.message.id, d.message.attempt, Date.now()]);
      if (d.message.id === 'first' && d.message.attempt === 1) await d.nack({ delayMs: 300 });
      else await d.ack();
    });
    const published = Date.now();
    await broker.publish(t, msg('later', { delayMs: 400 }));
    await broker.publish(t, msg('first'));
    await until(() => seen.length === 3, 'all deliveries');
    const first = seen.filter(([id]) => id === 'first');
    expect(first.map(([, attempt]) => attempt)).toEqual([1, 2]);
    expect(first[1]![2] - first[0]![2]).toBeGreaterThanOrEqual(300);
    const later = seen.find(([id]) => id === 'later')!;
    expect(later[1]).toBe(1);
    expect(later[2] - published).toBeGreaterThanOrEqual(400);
    expect((await broker.lag(t, 'g')).pending).toBe(0);
    await sub.close();
  });

  it('redelivers when the adapter-kept lease runs out, unless extended (FakeClock)', async () => {
    const clock = new FakeClock(Date.now());
    const leased = amqpBroker({ url: target.url, clock });
    const t = topic('a-lease');
    const seen: Array<[string, number]> = [];
    const held: Delivery[] = [];
    const sub = await leased.subscribe(t, { group: 'g', leaseMs: 1_000 }, async (d) => {
      seen.push([d.message.id, d.message.attempt]);
      if (d.message.attempt > 1) return void (await d.ack());
      held.push(d);
      if (d.message.id === 'keep') await d.extend(10_000);
    });
    await leased.publish(t, msg('drop'));
    await leased.publish(t, msg('keep'));
    await until(() => seen.length === 2, 'first deliveries');
    await clock.advance(1_000);
    await until(() => seen.length === 3, 'redelivery of the expired one');
    expect(seen[2]).toEqual(['drop', 2]);
    await held.find((d) => d.message.id === 'drop')!.ack(); // lease gone: a no-op
    await held.find((d) => d.message.id === 'keep')!.ack();
    await sleep(100);
    expect(seen).toHaveLength(3);
    await sub.close();
    await leased.close();
  });

  it('reports ready messages as pending and local unsettled deliveries as in flight', async () => {
    const t = topic('a-lag');
    const held: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g', prefetch: 2 }, async (d) => void held.push(d));
    for (let i = 0; i < 5; i++) await broker.publish(t, msg(`l${i}`));
    await until(() => held.length === 2, 'prefetch filled');
    await until(async () => (await broker.lag(t, 'g')).pending === 3, 'three ready');
    expect(await broker.lag(t, 'g')).toEqual({ pending: 3, inFlight: 2, oldestAgeMs: undefined });
    expect(await broker.lag(t, 'nobody')).toEqual({ pending: 0, inFlight: 0, oldestAgeMs: undefined });
    await sub.close();
  });

  it('refuses replay start positions and oversized bodies', async () => {
    await expect(broker.subscribe(topic('a-start'), { group: 'g', start: { from: 'earliest' } }, async () => undefined)).rejects.toThrow(/replay/);
    const small = amqpBroker({ url: target.url, maxMessageBytes: 4 });
    await expect(small.publish(topic('a-big'), msg('big'))).rejects.toBeInstanceOf(MessageTooLargeError);
    await small.close();
  });

  it('loses no acknowledged message when every connection is cut during a 10k-message run', async () => {
    const proxy = new TcpProxy(target.host, target.port);
    const port = await proxy.start();
    const url = new URL(target.url);
    url.port = String(port);
    const cut = amqpBroker({ url: url.toString(), reconnectBaseMs: 20, reconnectMaxMs: 500 });
    const result = await reconnectRun({ broker: cut, proxy, topic: topic('a-cut'), group: 'g', count: 10_000, cutAtAcked: [3_000, 7_000], startFrom: 'latest' });
    await cut.close();
    await proxy.stop();
    console.info('amqp reconnect run', { ...result, lost: result.lost.length });
    expect(result.cuts).toBeGreaterThanOrEqual(3);
    expect(result.published).toBe(10_000);
    expect(result.lost).toEqual([]);
  }, 120_000);
});
