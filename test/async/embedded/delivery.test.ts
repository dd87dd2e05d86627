import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/async/broker.js';
import { embeddedBroker, type EmbeddedBroker } from '../../../src/async/embedded/index.js';
import { ClosedError, MessageTooLargeError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { msg, publishAll, range, record, settle, tempDir, text, until } from './helpers.js';

describe('embedded broker: delivery semantics', () => {
  let tmp: ReturnType<typeof tempDir>;
  let clock: FakeClock;
  let broker: EmbeddedBroker;

  beforeEach(() => {
    tmp = tempDir();
    clock = new FakeClock();
    broker = embeddedBroker({ dir: tmp.dir, clock });
  });
  afterEach(async () => {
    await broker.close();
    tmp.remove();
  });

  it('delivers a published message with its id, key, headers, body, sequence and publish time', async () => {
    const r = await record(broker, 'orders', { group: 'g' });
    const receipt = await broker.publish('orders', msg('a', { key: 'k1', headers: { 'ce-type': 'order.placed', x: 'é' } }));
    await until(() => r.ids.length === 1);
    const m = r.deliveries[0]!.message;
    expect(m).toMatchObject({ id: 'a', topic: 'orders', key: 'k1', headers: { 'ce-type': 'order.placed', x: 'é' }, attempt: 1 });
    expect(m.sequence).toBe(receipt.sequence);
    expect(m.publishedAt).toBe(clock.now());
    expect(text(m.body)).toBe('body-a');
  });

  it('assigns increasing sequences per topic, starting at 1', async () => {
    const a = await Promise.all(range(5).map((id) => broker.publish('t1', msg(id))));
    const b = await broker.publish('t2', msg('x'));
    expect(a.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(b.sequence).toBe(1);
  });

  it('reads the message at publish: reusing the body or headers afterwards does not change it', async () => {
    const r = await record(broker, 't', { group: 'g' });
    const body = new TextEncoder().encode('original');
    const headers: Record<string, string> = { h: 'v' };
    const p = broker.publish('t', { id: 'a', headers, body });
    body.fill(0);
    headers['h'] = 'changed';
    headers['extra'] = 'x';
    await p;
    await until(() => r.ids.length === 1);
    expect(text(r.deliveries[0]!.message.body)).toBe('original');
    expect(r.deliveries[0]!.message.headers).toEqual({ h: 'v' });
  });

  it('fans out to every group and shares the work within a group', async () => {
    const a = await record(broker, 't', { group: 'A' });
    const b1 = await record(broker, 't', { group: 'B', prefetch: 1 });
    const b2 = await record(broker, 't', { group: 'B', prefetch: 1 });
    await publishAll(broker, 't', range(50).map((id) => msg(id)));
    await until(() => a.ids.length === 50 && b1.ids.length + b2.ids.length === 50);
    expect([...a.ids].sort()).toEqual(range(50).sort());
    expect([...b1.ids, ...b2.ids].sort()).toEqual(range(50).sort());
    expect(b1.ids.length).toBeGreaterThan(0);
    expect(b2.ids.length).toBeGreaterThan(0);
    expect(b1.ids.filter((id) => b2.ids.includes(id))).toEqual([]);
  });

  it('a new group starts at latest by default: it does not see older messages', async () => {
    await broker.publish('t', msg('old'));
    const r = await record(broker, 't', { group: 'late' });
    await broker.publish('t', msg('new'));
    await until(() => r.ids.length === 1);
    await settle();
    expect(r.ids).toEqual(['new']);
  });

  it('never has more than prefetch unsettled deliveries per subscription', async () => {
    const r = await record(broker, 't', { group: 'g', prefetch: 3 }, 'hold');
    await publishAll(broker, 't', range(10).map((id) => msg(id)));
    await settle(20);
    expect(r.deliveries).toHaveLength(3);
    await r.deliveries[0]!.ack();
    await until(() => r.deliveries.length === 4);
    await settle(10);
    expect(r.deliveries).toHaveLength(4);
  });

  it('redelivers a nacked message with attempt + 1', async () => {
    let first = true;
    const r = await record(broker, 't', { group: 'g' }, async (d) => {
      if (first) {
        first = false;
        await d.nack();
      } else await d.ack();
    });
    await broker.publish('t', msg('a'));
    await until(() => r.deliveries.length === 2);
    expect(r.deliveries.map((d) => [d.message.id, d.message.attempt])).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
  });

  it('redelivers after a nack delay, not before', async () => {
    let n = 0;
    const r = await record(broker, 't', { group: 'g' }, async (d) => {
      if (n++ === 0) await d.nack({ delayMs: 5_000 });
      else await d.ack();
    });
    await broker.publish('t', msg('a'));
    await until(() => r.deliveries.length === 1);
    await clock.advance(4_999);
    await settle(10);
    expect(r.deliveries).toHaveLength(1);
    await clock.advance(1);
    await until(() => r.deliveries.length === 2);
    expect(r.deliveries[1]!.message.attempt).toBe(2);
  });

  it('holds a delayed publish until its time, while undelayed messages flow', async () => {
    const r = await record(broker, 't', { group: 'g' });
    await broker.publish('t', msg('later', { delayMs: 10_000 }));
    await broker.publish('t', msg('now'));
    await until(() => r.ids.length === 1);
    expect(r.ids).toEqual(['now']);
    await clock.advance(9_999);
    await settle(10);
    expect(r.ids).toEqual(['now']);
    await clock.advance(1);
    await until(() => r.ids.length === 2);
    expect(r.ids).toEqual(['now', 'later']);
  });

  it('redelivers when the lease expires, with attempt + 1; the expired delivery can no longer settle', async () => {
    const r = await record(broker, 't', { group: 'g', leaseMs: 1_000 }, 'hold');
    await broker.publish('t', msg('a'));
    await until(() => r.deliveries.length === 1);
    await clock.advance(999);
    await settle(10);
    expect(r.deliveries).toHaveLength(1);
    await clock.advance(1);
    await until(() => r.deliveries.length === 2);
    expect(r.deliveries[1]!.message).toMatchObject({ id: 'a', attempt: 2 });
    await r.deliveries[0]!.ack();
    expect((await broker.lag('t', 'g')).inFlight).toBe(1);
    await r.deliveries[1]!.ack();
    expect(await broker.lag('t', 'g')).toMatchObject({ pending: 0, inFlight: 0 });
  });

  it('extend() keeps the lease past its original expiry', async () => {
    const r = await record(broker, 't', { group: 'g', leaseMs: 1_000 }, 'hold');
    await broker.publish('t', msg('a'));
    await until(() => r.deliveries.length === 1);
    await clock.advance(900);
    await r.deliveries[0]!.extend(5_000);
    await clock.advance(4_000);
    await settle(10);
    expect(r.deliveries).toHaveLength(1);
    await clock.advance(1_000);
    await until(() => r.deliveries.length === 2);
  });

  it('treats a nonsensical nack delay or lease extension as none (the message still comes back)', async () => {
    const r = await record(broker, 't', { group: 'g', leaseMs: 1_000 }, async (d) => {
      if (d.message.attempt === 1) await d.nack({ delayMs: Number.NaN });
      else await d.extend(Number.NaN);
    });
    await broker.publish('t', msg('a'));
    await until(() => r.deliveries.length === 2);
    await clock.advance(1_000); // extend(NaN) renewed the default lease, which now runs out
    await until(() => r.deliveries.length === 3);
    expect(r.deliveries.map((d) => d.message.attempt)).toEqual([1, 2, 3]);
  });

  it('settling twice is a no-op', async () => {
    const r = await record(broker, 't', { group: 'g' }, 'hold');
    await broker.publish('t', msg('a'));
    await broker.publish('t', msg('b'));
    await until(() => r.deliveries.length === 2);
    const d = r.deliveries[0]!;
    await d.ack();
    await d.ack();
    await d.nack();
    await settle(10);
    expect(r.deliveries).toHaveLength(2);
    expect(await broker.lag('t', 'g')).toMatchObject({ pending: 0, inFlight: 1 });
  });

  it('a handler that throws gets its delivery redelivered', async () => {
    let calls = 0;
    const seen: number[] = [];
    await broker.subscribe('t', { group: 'g' }, async (d) => {
      seen.push(d.message.attempt);
      if (calls++ === 0) throw new Error('boom');
      await d.ack();
    });
    await broker.publish('t', msg('a'));
    await until(() => seen.length === 2);
    expect(seen).toEqual([1, 2]);
  });

  it('keeps per-key order across competing consumers: the next message of a key waits for the previous', async () => {
    const keys = ['k0', 'k1', 'k2'];
    const inFlightPerKey = new Map<string, number>();
    const order = new Map<string, string[]>();
    let violations = 0;
    const handler = async (d: Delivery): Promise<void> => {
      const key = d.message.key!;
      if ((inFlightPerKey.get(key) ?? 0) > 0) violations++;
      inFlightPerKey.set(key, 1);
      await settle(1 + (Number(d.message.id.slice(1)) % 3));
      // Nack some messages once: the redelivery must still come before the key's later messages.
      if (d.message.attempt === 1 && Number(d.message.id.slice(1)) % 7 === 0) {
        inFlightPerKey.set(key, 0);
        await d.nack();
        return;
      }
      order.set(key, [...(order.get(key) ?? []), d.message.id]);
      inFlightPerKey.set(key, 0);
      await d.ack();
    };
    for (let i = 0; i < 3; i++) await broker.subscribe('t', { group: 'g', prefetch: 8 }, handler);
    const ids = range(90);
    await publishAll(
      broker,
      't',
      ids.map((id, i) => msg(id, { key: keys[i % 3] })),
    );
    await until(() => [...order.values()].reduce((n, l) => n + l.length, 0) === 90, 'all acked');
    expect(violations).toBe(0);
    for (const [k, list] of order) expect(list).toEqual(ids.filter((_, i) => keys[i % 3] === k));
  });

  it('holds a key behind a delayed nack while other keys flow', async () => {
    const acked: string[] = [];
    await broker.subscribe('t', { group: 'g', prefetch: 10 }, async (d) => {
      if (d.message.id === 'a1' && d.message.attempt === 1) return void (await d.nack({ delayMs: 1_000 }));
      acked.push(d.message.id);
      await d.ack();
    });
    await publishAll(broker, 't', [msg('a1', { key: 'a' }), msg('a2', { key: 'a' }), msg('b1', { key: 'b' })]);
    await until(() => acked.includes('b1'));
    await settle(10);
    expect(acked).toEqual(['b1']);
    await clock.advance(1_000);
    await until(() => acked.length === 3);
    expect(acked).toEqual(['b1', 'a1', 'a2']);
  });

  it('closing a subscription waits for running handlers and returns unsettled deliveries to the group', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handlerDone = false;
    const first = await broker.subscribe('t', { group: 'g', prefetch: 2 }, async (d) => {
      if (d.message.id === 'a') {
        await gate;
        await d.ack();
        handlerDone = true;
      }
      // 'b' is left unsettled
    });
    await publishAll(broker, 't', [msg('a'), msg('b')]);
    await settle(10);
    const closed = first.close();
    await settle(10);
    expect(handlerDone).toBe(false);
    release();
    await closed;
    expect(handlerDone).toBe(true);
    const next = await record(broker, 't', { group: 'g' });
    await until(() => next.ids.length === 1);
    expect(next.ids).toEqual(['b']);
    expect(next.deliveries[0]!.message.attempt).toBe(2);
  });

  it('dead letters published to `${topic}.dlq` are an ordinary topic', async () => {
    const dlq = await record(broker, 'orders.dlq', { group: 'ops' });
    await broker.subscribe('orders', { group: 'g' }, async (d) => {
      await broker.publish('orders.dlq', { id: d.message.id, key: d.message.key, headers: { ...d.message.headers, 'x-error': 'bad' }, body: d.message.body });
      await d.ack();
    });
    await broker.publish('orders', msg('poison', { key: 'o1' }));
    await until(() => dlq.ids.length === 1);
    expect(dlq.deliveries[0]!.message).toMatchObject({ id: 'poison', key: 'o1', topic: 'orders.dlq' });
    expect(dlq.deliveries[0]!.message.headers['x-error']).toBe('bad');
  });

  it('rejects a body larger than maxMessageBytes with MessageTooLargeError', async () => {
    await broker.close();
    broker = embeddedBroker({ dir: tmp.dir, clock, maxMessageBytes: 100 });
    expect(broker.features.maxMessageBytes).toBe(100);
    await expect(broker.publish('t', { id: 'x', headers: {}, body: new Uint8Array(101) })).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(broker.publish('t', { id: 'y', headers: {}, body: new Uint8Array(100) })).resolves.toMatchObject({ id: 'y' });
  });

  it('fails publish and subscribe after close with ClosedError; close is idempotent', async () => {
    await broker.close();
    await broker.close();
    await expect(broker.publish('t', msg('a'))).rejects.toBeInstanceOf(ClosedError);
    await expect(broker.subscribe('t', { group: 'g' }, async () => undefined)).rejects.toBeInstanceOf(ClosedError);
  });

  it('declares its features', () => {
    expect(broker.name).toBe('embedded');
    expect(broker.features).toMatchObject({
      persistence: 'process',
      orderingByKey: true,
      replay: true,
      delay: true,
      dedup: false,
      competingConsumers: true,
      fanOut: true,
      leaseExtension: true,
    });
  });
});
