/**
 * NATS JetStream adapter against a real nats-server (scripts/brokers.sh start nats): the headers a plain
 * NATS client sees, fan-out and competing consumers, attempts from the delivery count, nak delays, the ack
 * wait as lease (and `working()` extending it), dedup, replay with seek, lag, and a 10k-message run with
 * every connection cut mid-way.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/async/broker.js';
import { MessageTooLargeError } from '../../src/core/errors.js';
import { natsBroker, natsFeatures, natsName, type NatsBroker } from '../../src/async/nats/index.js';
import { runBrokerConformance } from '../../src/testing/index.js';
import { brokerTarget, unique } from './support/env.js';
import { reconnectRun } from './support/reconnect.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { TrackingBroker } from './support/tracking-broker.js';
import { bytes, sleep, text, until } from './support/wait.js';

const target = await brokerTarget('nats');

describe.skipIf(!target.available)('nats conformance', () => {
  // Limits retention: the replay case publishes before any group exists, which interest retention drops.
  runBrokerConformance({
    describe,
    it,
    name: 'nats',
    features: natsFeatures(1024 * 1024),
    create: () =>
      new TrackingBroker(natsBroker({ servers: target.url, retention: { maxAgeMs: 600_000 } }), async (topics) => {
        const nc = await connect({ servers: target.url });
        const jsm = await jetstreamManager(nc);
        for (const topic of topics.keys()) await jsm.streams.delete(natsName('courier_', topic)).catch(() => undefined);
        await nc.close();
      }),
  });
});

describe('nats names', () => {
  it('keep safe names and make dotted ones safe and distinct', () => {
    expect(natsName('p_', 'orders')).toBe('p_orders');
    expect(natsName('p_', 'orders.placed')).toMatch(/^p_orders_placed_[0-9a-f]{8}$/);
    expect(natsName('p_', 'orders.placed')).not.toBe(natsName('p_', 'orders_placed'));
  });
});

describe.skipIf(!target.available)('nats adapter', () => {
  let broker: NatsBroker;
  let raw: NatsConnection;
  const streams: string[] = [];
  const topic = (name: string): string => {
    const t = `${unique(name)}.events`;
    streams.push(natsName('courier_', t));
    return t;
  };

  beforeAll(async () => {
    broker = natsBroker({ servers: target.url });
    raw = await connect({ servers: target.url });
  });
  afterAll(async () => {
    await broker.close();
    const jsm = await jetstreamManager(raw);
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await raw.close();
  });

  const msg = (id: string, extra: object = {}) => ({ id, headers: { 'ce-type': 'test', 'ce-source': '/t' }, body: bytes(`body-${id}`), ...extra });

  it('publishes to the topic subject with Nats-Msg-Id, Courier-Key and the ce- headers', async () => {
    const t = topic('n-layout');
    const received: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
      received.push(d);
      await d.ack();
    });
    const seen = raw.subscribe(t, { max: 1 });
    // The SUB goes out with the connection's next flush; the publish travels on another connection and,
    // on a loaded machine, could reach the server first and never be seen here.
    await raw.flush();
    const receipt = await broker.publish(t, msg('a1', { key: 'k1' }));
    for await (const m of seen) {
      expect(m.headers?.get('Nats-Msg-Id')).toBe('a1');
      expect(m.headers?.get('Courier-Key')).toBe('k1');
      expect(m.headers?.get('ce-type')).toBe('test');
      expect(text(m.data)).toBe('body-a1');
    }
    await until(() => received.length === 1, 'delivery');
    expect(received[0]!.message).toMatchObject({ id: 'a1', key: 'k1', topic: t, attempt: 1, sequence: receipt.sequence, headers: { 'ce-type': 'test', 'ce-source': '/t' } });
    await sub.close();
  });

  it('gives every group every message and splits a group between its consumers', async () => {
    const t = topic('n-fan');
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

  it('counts attempts across nack, a thrown handler and a released delivery; nak delay is never early', async () => {
    const t = topic('n-nack');
    const attempts: Array<[number, number]> = [];
    let sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
      attempts.push([d.message.attempt, Date.now()]);
      if (d.message.attempt === 1) await d.nack({ delayMs: 300 });
      else if (d.message.attempt === 2) throw new Error('handler failed');
    });
    await broker.publish(t, msg('n1'));
    await until(() => attempts.length === 3, 'three attempts');
    expect(attempts[1]![1] - attempts[0]![1]).toBeGreaterThanOrEqual(300);
    await sub.close();
    sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
      attempts.push([d.message.attempt, Date.now()]);
      await d.ack();
    });
    await until(() => attempts.length === 4, 'redelivery after close');
    expect(attempts.map(([a]) => a)).toEqual([1, 2, 3, 4]);
    await sub.close();
  });

  it('redelivers after the ack wait (the lease) unless working() extends it', async () => {
    const t = topic('n-lease');
    const seen: Array<[string, number]> = [];
    const held: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g', leaseMs: 400 }, async (d) => {
      seen.push([d.message.id, d.message.attempt]);
      if (d.message.attempt > 1) return void (await d.ack());
      held.push(d);
      if (d.message.id === 'keep') await d.extend(5_000);
    });
    await broker.publish(t, msg('drop'));
    await broker.publish(t, msg('keep'));
    await until(() => seen.some(([id, attempt]) => id === 'drop' && attempt === 2), 'redelivery of the expired one');
    await sleep(1_200); // three ack waits: the extended one stays
    expect(seen.filter(([id]) => id === 'keep')).toEqual([['keep', 1]]);
    await held.find((d) => d.message.id === 'keep')!.ack();
    await sub.close();
  });

  it('stores a message id once within the dedup window', async () => {
    const keep = natsBroker({ servers: target.url, retention: { maxAgeMs: 3_600_000 } });
    const t = topic('n-dedup');
    const first = await keep.publish(t, msg('same'));
    const second = await keep.publish(t, msg('same'));
    const other = await keep.publish(t, msg('other'));
    expect(second.sequence).toBe(first.sequence);
    expect(other.sequence).toBe(Number(first.sequence) + 1);
    await keep.close();
  });

  it('replays from a sequence and from a time with seek (limits retention)', async () => {
    const keep = natsBroker({ servers: target.url, retention: { maxAgeMs: 3_600_000 } });
    const t = topic('n-seek');
    const receipts = [];
    for (let i = 0; i < 4; i++) receipts.push(await keep.publish(t, msg(`s${i}`)));
    const ids: string[] = [];
    await keep.seek(t, 'g', { from: 'sequence', sequence: receipts[2]!.sequence! });
    const sub = await keep.subscribe(t, { group: 'g' }, async (d) => void (ids.push(d.message.id), await d.ack()));
    await until(() => ids.length === 2, 'from sequence');
    expect(ids).toEqual(['s2', 's3']);
    await keep.seek(t, 'g', { from: 'time', time: 0 });
    await until(() => ids.length === 6, 'from time 0');
    expect(ids.slice(2)).toEqual(['s0', 's1', 's2', 's3']);
    await sub.close();
    await keep.close();
  });

  it('reports lag from the consumer: pending, in flight, oldest unacked age', async () => {
    const t = topic('n-lag');
    const held: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g', prefetch: 2 }, async (d) => void held.push(d));
    for (let i = 0; i < 5; i++) await broker.publish(t, msg(`l${i}`));
    await until(() => held.length === 2, 'prefetch filled');
    const lag = await broker.lag(t, 'g');
    expect(lag).toMatchObject({ pending: 3, inFlight: 2 });
    expect(lag.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(await broker.lag(t, 'nobody')).toEqual({ pending: 0, inFlight: 0, oldestAgeMs: undefined });
    await sub.close();
  });

  it('refuses delayed publishes, wildcard topics and oversized bodies', async () => {
    await expect(broker.publish(topic('n-delay'), msg('d', { delayMs: 10 }))).rejects.toThrow(/delay/);
    await expect(broker.publish('orders.*', msg('w'))).rejects.toThrow(/subject/);
    const small = natsBroker({ servers: target.url, maxMessageBytes: 4 });
    await expect(small.publish(topic('n-big'), msg('big'))).rejects.toBeInstanceOf(MessageTooLargeError);
    await small.close();
  });

  it('loses no acknowledged message when every connection is cut during a 10k-message run', async () => {
    const proxy = new TcpProxy(target.host, target.port);
    const port = await proxy.start();
    const cut = natsBroker({ servers: `nats://127.0.0.1:${port}` });
    const result = await reconnectRun({ broker: cut, proxy, topic: topic('n-cut'), group: 'g', count: 10_000, cutAtAcked: [3_000, 7_000], leaseMs: 2_000 });
    await cut.close();
    await proxy.stop();
    console.info('nats reconnect run', { ...result, lost: result.lost.length });
    expect(result.cuts).toBeGreaterThanOrEqual(3);
    expect(result.published).toBe(10_000);
    expect(result.lost).toEqual([]);
  }, 120_000);
});
