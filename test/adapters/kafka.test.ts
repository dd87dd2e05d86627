/**
 * Kafka adapter, without a Kafka broker (none is installable here; see docs/adapters/kafka.md). What these
 * tests verify: the record layout (CloudEvents Kafka binding), the kafkajs configuration, the lag
 * arithmetic, attempt counting, and which kafkajs consumer calls each settlement makes (recorded by a
 * stand-in for the kafkajs `Consumer` object). What they cannot verify: anything Kafka itself does.
 */
import type { Consumer, EachMessagePayload, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/async/broker.js';
import { AttemptCounter, clientConfig, consumerConfig, fromKafkaMessage, kafkaBroker, pendingFrom, producerConfig, runConfig, toKafkaMessage } from '../../src/async/kafka/index.js';
import { KafkaSubscription } from '../../src/async/kafka/subscription.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { bytes, text } from './support/wait.js';

describe('kafka record layout', () => {
  it('writes ce- headers as ce_, keeps content-type and trace headers, puts the key in the record key', () => {
    const record = toKafkaMessage({
      id: 'id-1',
      key: 'order-7',
      headers: { 'ce-id': 'id-1', 'ce-type': 'orders.Placed', 'content-type': 'application/json', traceparent: 'tp' },
      body: bytes('{"a":1}'),
    });
    expect(record.key).toBe('order-7');
    expect(record.headers).toEqual({ ce_id: 'id-1', ce_type: 'orders.Placed', 'content-type': 'application/json', traceparent: 'tp' });
    expect(text(record.value as Buffer)).toBe('{"a":1}');
  });

  it('carries a message id that differs from ce-id in courier_id, and reads it back', () => {
    const record = toKafkaMessage({ id: 'other', headers: { 'ce-n': '1' }, body: bytes('') });
    expect(record.headers).toEqual({ ce_n: '1', courier_id: 'other' });
    const read = fromKafkaMessage(asRecord(record.headers as Record<string, string>, null, '5'), 't', 0);
    expect(read).toMatchObject({ id: 'other', key: undefined, headers: { 'ce-n': '1' } });
  });

  it('decodes a foreign record: Buffer and array header values, key, timestamp, and a fallback id', () => {
    const record: KafkaMessage = {
      key: Buffer.from('k'),
      value: Buffer.from('body'),
      timestamp: '1700000000000',
      attributes: 0,
      offset: '42',
      headers: { ce_type: Buffer.from('x'), multi: [Buffer.from('a'), 'b'], gone: undefined },
    };
    const read = fromKafkaMessage(record, 'orders', 3);
    expect(read).toMatchObject({ id: 'orders-3-42', key: 'k', headers: { 'ce-type': 'x', multi: 'a,b' }, publishedAt: 1_700_000_000_000 });
    expect(text(read.body)).toBe('body');
  });
});

describe('kafka configuration', () => {
  it('needs brokers, and connects nothing until used', async () => {
    expect(() => kafkaBroker({})).toThrow(/brokers/);
    const broker = kafkaBroker({ brokers: ['127.0.0.1:1'], clientId: 'c' });
    expect(broker.features).toMatchObject({ orderingByKey: true, replay: true, delay: false, dedup: false, leaseExtension: false });
    await broker.close();
  });

  it('uses an idempotent producer, manual commits, and prefetch as partitions in parallel', () => {
    expect(clientConfig({ brokers: ['b:9092'] })).toEqual({ clientId: 'courier', brokers: ['b:9092'] });
    expect(producerConfig()).toEqual({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false });
    expect(consumerConfig('g', 2 * 1024 * 1024, 30_000)).toMatchObject({ groupId: 'g', sessionTimeout: 30_000, heartbeatInterval: 3_000, maxBytesPerPartition: 2 * 1024 * 1024 + 64 * 1024 });
    expect(runConfig(8)).toEqual({ autoCommit: false, partitionsConsumedConcurrently: 8 });
  });
});

describe('kafka lag arithmetic', () => {
  it('counts from the committed offset, or from the low watermark where nothing is committed', () => {
    const offsets = [
      { partition: 0, low: '0', high: '10' },
      { partition: 1, low: '5', high: '8' },
      { partition: 2, low: '20', high: '20' },
    ];
    expect(pendingFrom(offsets, [{ partition: 0, offset: '7' }, { partition: 1, offset: '-1' }])).toBe(3 + 3);
    expect(pendingFrom(offsets, [{ partition: 0, offset: '2' }, { partition: 1, offset: '3' }, { partition: 2, offset: '20' }])).toBe(8 + 3);
  });

  it('counts attempts of redelivered records until they are settled', () => {
    const a = new AttemptCounter();
    expect(a.current('t', 0, '5')).toBe(1);
    a.redelivering('t', 0, '5');
    a.redelivering('t', 0, '5');
    expect(a.current('t', 0, '5')).toBe(3);
    a.settled('t', 0, '5');
    expect(a.current('t', 0, '5')).toBe(1);
    expect(a.size).toBe(0);
  });
});

describe('kafka settlement → kafkajs consumer calls (stand-in consumer, no broker)', () => {
  function setup(clock = new FakeClock()) {
    const calls: string[] = [];
    const consumer = {
      run: async () => undefined,
      commitOffsets: async (o: Array<{ partition: number; offset: string }>) => void calls.push(`commit p${o[0]!.partition}@${o[0]!.offset}`),
      seek: (o: { partition: number; offset: string }) => void calls.push(`seek p${o.partition}@${o.offset}`),
      pause: (t: Array<{ partitions?: number[] }>) => void calls.push(`pause ${t[0]!.partitions?.join(',') ?? 'all'}`),
      resume: (t: Array<{ partitions?: number[] }>) => void calls.push(`resume ${t[0]!.partitions?.join(',') ?? 'all'}`),
      disconnect: async () => void calls.push('disconnect'),
    } as unknown as Consumer;
    const deliveries: Delivery[] = [];
    const sub = new KafkaSubscription(
      { topic: 't', group: 'g', consumer, attempts: new AttemptCounter(), clock, prefetch: 2, leaseMs: 1_000, onError: () => undefined, onClosed: () => undefined },
      async (d) => void deliveries.push(d),
    );
    const each = (partition: number, offset: string): Promise<void> =>
      (sub as unknown as { each(p: EachMessagePayload): Promise<void> }).each({
        topic: 't',
        partition,
        message: asRecord({ ce_id: `m${offset}` }, 'k', offset),
        heartbeat: async () => undefined,
        pause: () => () => undefined,
      });
    return { calls, deliveries, sub, each, clock };
  }

  it('ack commits the next offset and lets the partition go on', async () => {
    const { calls, deliveries, each } = setup();
    const done = each(0, '41');
    expect(deliveries[0]!.message).toMatchObject({ id: 'm41', key: 'k', attempt: 1, sequence: 41n });
    await deliveries[0]!.ack();
    await done;
    expect(calls).toEqual(['commit p0@42']);
  });

  it('nack seeks back (pausing for a delay), and the next delivery of the record counts the attempt', async () => {
    const { calls, deliveries, each, clock } = setup();
    const first = each(1, '7');
    await deliveries[0]!.nack({ delayMs: 500 });
    await first;
    expect(calls).toEqual(['seek p1@7', 'pause 1']);
    await clock.advance(500);
    expect(calls).toEqual(['seek p1@7', 'pause 1', 'resume 1']);
    void each(1, '7');
    expect(deliveries[1]!.message.attempt).toBe(2);
  });

  it('a lease that runs out redelivers like a nack; close pauses, commits nothing and disconnects', async () => {
    const { calls, deliveries, each, clock, sub } = setup();
    const held = each(2, '3');
    await clock.advance(1_000);
    await held;
    expect(calls).toEqual(['seek p2@3']);
    await deliveries[0]!.ack(); // too late: a no-op
    expect(calls).toEqual(['seek p2@3']);
    const open = each(2, '3');
    await sub.close();
    await open;
    expect(calls).toEqual(['seek p2@3', 'pause all', 'disconnect']);
  });
});

function asRecord(headers: Record<string, string>, key: string | null, offset: string): KafkaMessage {
  return { key: key === null ? null : Buffer.from(key), value: Buffer.from('v'), timestamp: '1', attributes: 0, offset, headers };
}
