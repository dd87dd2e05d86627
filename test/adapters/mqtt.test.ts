/**
 * MQTT 5 adapter against a real mosquitto (scripts/brokers.sh start mosquitto): the user properties a plain
 * MQTT client sees, shared subscriptions, deferred PUBACKs (prefetch = Receive Maximum), nack copies through
 * the group's retry topic, session resumption on close and on connection loss, and a 10k-message run with
 * every connection cut mid-way. Lag is the one conformance case MQTT cannot meet (no lag API).
 */
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/async/broker.js';
import { fromPublishProperties, mqttBroker, mqttFeatures, toPublishProperties } from '../../src/async/mqtt/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { runBrokerConformance } from '../../src/testing/index.js';
import { brokerTarget, unique } from './support/env.js';
import { reconnectRun } from './support/reconnect.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { bytes, sleep, text, until } from './support/wait.js';

const target = await brokerTarget('mosquitto');
/** Test sessions expire soon after the run instead of lingering in mosquitto for a day. */
const options = { url: target.url, sessionExpirySeconds: 60 };

describe('mqtt user properties', () => {
  it('map ce- headers to bare attribute names and back, escaping look-alike foreign headers', () => {
    const headers = { 'ce-id': 'a1', 'ce-type': 't', traceparent: 'tp', 'content-type': 'application/json', 'x-trace': 'v', plain: 'p' };
    const props = toPublishProperties('a1', 'k', headers);
    expect(props).toEqual({
      contentType: 'application/json',
      userProperties: { id: 'a1', type: 't', traceparent: 'tp', 'x-trace': 'v', 'courier-header-plain': 'p', 'courier-key': 'k' },
    });
    expect(fromPublishProperties(props)).toEqual({ id: 'a1', key: 'k', headers, attempt: 1 });
    expect(toPublishProperties('other', undefined, { 'ce-id': 'a1' }).userProperties).toEqual({ id: 'a1', 'courier-id': 'other' });
  });
});

describe.skipIf(!target.available)('mqtt conformance', () => {
  runBrokerConformance({
    describe,
    it,
    name: 'mqtt',
    features: mqttFeatures(1024 * 1024, 1),
    create: () => mqttBroker(options),
    exclude: {
      'lag counts what a group has not yet received':
        'MQTT has no API for the messages a broker holds for a shared subscription; lag.pending is NaN (unknown)',
    },
  });
});

describe.skipIf(!target.available)('mqtt adapter', () => {
  const msg = (id: string, extra: object = {}) => ({ id, headers: { 'ce-type': 'test', 'ce-source': '/t' }, body: bytes(`body-${id}`), ...extra });

  it('publishes CloudEvents attributes as user properties a plain MQTT 5 client reads', async () => {
    const broker = mqttBroker(options);
    const t = unique('m-layout');
    const raw = await mqtt.connectAsync(target.url, { protocolVersion: 5 });
    const seen = new Promise<mqtt.IPublishPacket>((resolve) => raw.on('message', (_t, _p, packet) => resolve(packet)));
    await raw.subscribeAsync(t, { qos: 1 });
    await broker.publish(t, msg('a1', { key: 'k1', headers: { 'ce-id': 'a1', 'ce-type': 'x', 'content-type': 'text/plain' } }));
    const packet = await seen;
    expect(packet.qos).toBe(1);
    expect(packet.properties?.contentType).toBe('text/plain');
    expect(packet.properties?.userProperties).toEqual({ id: 'a1', type: 'x', 'courier-key': 'k1' });
    expect(text(packet.payload as Buffer)).toBe('body-a1');
    await raw.endAsync();
    await broker.close();
  });

  it('retains the last message of the topics `retain` picks, for plain subscribers only (not for groups)', async () => {
    const kept = unique('m-retain');
    const other = unique('m-plain');
    const broker = mqttBroker({ ...options, retain: (topic) => topic === kept });
    await broker.publish(kept, msg('r1'));
    await broker.publish(kept, msg('r2'));
    await broker.publish(other, msg('o1'));
    const raw = await mqtt.connectAsync(target.url, { protocolVersion: 5 });
    const got: Array<{ topic: string; body: string; retain: boolean }> = [];
    raw.on('message', (topic, payload, packet) => got.push({ topic, body: payload.toString(), retain: packet.retain }));
    await raw.subscribeAsync([kept, other], { qos: 1 });
    await until(() => got.length >= 1, 'the retained message');
    const groupGot: string[] = [];
    const sub = await broker.subscribe(kept, { group: 'g' }, async (d) => {
      groupGot.push(text(d.message.body));
      await d.ack();
    });
    await sleep(300);
    expect(got).toEqual([{ topic: kept, body: 'body-r2', retain: true }]);
    expect(groupGot).toEqual([]);
    await sub.close();
    await raw.publishAsync(kept, Buffer.alloc(0), { qos: 1, retain: true }); // clear the retained message
    await raw.endAsync();
    await broker.close();
  });

  it('publishes at the QoS it was given (0, 1 and 2) and a group consumes each', async () => {
    for (const qos of [0, 1, 2] as const) {
      const broker = mqttBroker({ ...options, qos });
      const t = unique(`m-qos${qos}`);
      const raw = await mqtt.connectAsync(target.url, { protocolVersion: 5 });
      const seenQos = new Promise<number>((resolve) => raw.on('message', (_t, _p, packet) => resolve(packet.qos)));
      await raw.subscribeAsync(t, { qos: 2 });
      const got: string[] = [];
      const sub = await broker.subscribe(t, { group: 'g' }, async (d) => {
        got.push(text(d.message.body));
        await d.ack();
      });
      await broker.publish(t, msg(`q${qos}`));
      expect(await seenQos).toBe(qos);
      await until(() => got.length === 1, `the QoS ${qos} message`);
      expect(got).toEqual([`body-q${qos}`]);
      await sub.close();
      await raw.endAsync();
      await broker.close();
    }
  });

  it('never has more than prefetch unacknowledged messages out to a consumer (Receive Maximum)', async () => {
    const broker = mqttBroker(options);
    const t = unique('m-prefetch');
    const held: Delivery[] = [];
    const sub = await broker.subscribe(t, { group: 'g', prefetch: 3 }, async (d) => void held.push(d));
    for (let i = 0; i < 8; i++) await broker.publish(t, msg(`p${i}`));
    await until(() => held.length === 3, 'three deliveries');
    await sleep(200);
    expect(held).toHaveLength(3);
    expect((await broker.lag(t, 'g')).inFlight).toBe(3);
    expect(Number.isNaN((await broker.lag(t, 'g')).pending)).toBe(true);
    await held[0]!.ack();
    await until(() => held.length === 4, 'one more after an ack');
    for (const d of held) await d.ack();
    await until(() => held.length === 8, 'the rest');
    for (const d of held) await d.ack();
    await sub.close();
    await broker.close();
  });

  it('sends a nacked message back to its group only, counting the attempt', async () => {
    const broker = mqttBroker(options);
    const t = unique('m-nack');
    const a: Array<[string, number]> = [];
    const b: Array<[string, number]> = [];
    const subA = await broker.subscribe(t, { group: 'a' }, async (d) => {
      a.push([d.message.id, d.message.attempt]);
      if (d.message.attempt < 3) await d.nack();
      else await d.ack();
    });
    const subB = await broker.subscribe(t, { group: 'b' }, async (d) => {
      b.push([d.message.id, d.message.attempt]);
      await d.ack();
    });
    await broker.publish(t, msg('n1'));
    await until(() => a.length === 3 && b.length === 1, 'three attempts in a, one in b');
    await sleep(100);
    expect(a).toEqual([['n1', 1], ['n1', 2], ['n1', 3]]);
    expect(b).toEqual([['n1', 1]]);
    await Promise.all([subA.close(), subB.close()]);
    await broker.close();
  });

  it('hands a message whose lease ran out back to the group (FakeClock)', async () => {
    const clock = new FakeClock(Date.now());
    const broker = mqttBroker({ ...options, clock });
    const t = unique('m-lease');
    const seen: number[] = [];
    const sub = await broker.subscribe(t, { group: 'g', leaseMs: 1_000 }, async (d) => {
      seen.push(d.message.attempt);
      if (d.message.attempt > 1) await d.ack();
    });
    await broker.publish(t, msg('l1'));
    await until(() => seen.length === 1, 'first delivery');
    await clock.advance(999);
    await sleep(100);
    expect(seen).toEqual([1]);
    await clock.advance(1);
    await until(() => seen.length === 2, 'redelivery');
    expect(seen).toEqual([1, 2]);
    await sub.close();
    await broker.close();
  });

  it('keeps the session on close: the next consumer of the group resumes it and gets what was left (DUP)', async () => {
    const broker = mqttBroker(options);
    const t = unique('m-resume');
    const first = await broker.subscribe(t, { group: 'g' }, async () => undefined);
    await broker.publish(t, msg('r1'));
    await until(async () => (await broker.lag(t, 'g')).inFlight === 1, 'held');
    await first.close();
    await broker.publish(t, msg('r2')); // queued for the offline session
    const got: Array<[string, number]> = [];
    const second = await broker.subscribe(t, { group: 'g' }, async (d) => {
      got.push([d.message.id, d.message.attempt]);
      await d.ack();
    });
    await until(() => got.length === 2, 'both messages');
    expect(got).toEqual([['r1', 2], ['r2', 1]]);
    await second.close();
    await broker.close();
  });

  it('refuses delays, replay starts, wildcards and bad group names', async () => {
    const broker = mqttBroker(options);
    await expect(broker.publish(unique('m-x'), msg('d', { delayMs: 5 }))).rejects.toThrow(/delay/);
    await expect(broker.publish('a/+/b', msg('w'))).rejects.toThrow(/literal/);
    await expect(broker.subscribe(unique('m-x'), { group: 'g', start: { from: 'earliest' } }, async () => undefined)).rejects.toThrow(/replay/);
    await expect(broker.subscribe(unique('m-x'), { group: 'a/b' }, async () => undefined)).rejects.toThrow(/group/);
    expect(mqttBroker({ ...options, qos: 0 }).features.persistence).toBe('none');
    await broker.close();
  });

  it('loses no acknowledged message when every connection is cut during a 10k-message run', async () => {
    const proxy = new TcpProxy(target.host, target.port);
    const port = await proxy.start();
    const cut = mqttBroker({ ...options, url: `mqtt://127.0.0.1:${port}` });
    const result = await reconnectRun({ broker: cut, proxy, topic: unique('m-cut'), group: 'g', count: 10_000, cutAtAcked: [3_000, 7_000], startFrom: 'latest' });
    await cut.close();
    await proxy.stop();
    console.info('mqtt reconnect run', { ...result, lost: result.lost.length });
    expect(result.cuts).toBeGreaterThanOrEqual(3);
    expect(result.published).toBe(10_000);
    expect(result.lost).toEqual([]);
  }, 120_000);
});
