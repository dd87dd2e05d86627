import assert from 'node:assert/strict';
import type { Broker, BrokerFeatures, Delivery, OutgoingMessage } from '../../async/broker.js';
import { consume } from '../../async/pipeline/consume.js';
import { readDeadLetter } from '../../async/dlq.js';
import { createEnvelope, encodeEnvelope } from '../../core/envelope.js';
import { MessageTooLargeError } from '../../core/errors.js';
import { message, numberOf, publishAll, range, sleep, unique, waitFor } from './support.js';

/**
 * The broker conformance cases. Each states one guarantee of the Broker contract (src/async/broker.ts) and
 * checks it against a fresh broker. `requires` names the feature a case needs: where the manifest says the
 * adapter lacks it, the case is registered as skipped with that reason, never as passed.
 */
export interface ConformanceCase {
  readonly name: string;
  readonly requires?: keyof BrokerFeatures;
  run(broker: Broker): Promise<void>;
}

export const brokerCases: readonly ConformanceCase[] = [
  {
    name: 'delivers every published message to a subscribed group (at-least-once)',
    async run(broker) {
      const topic = unique('t');
      const seen = new Set<number>();
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        seen.add(numberOf(d));
        await d.ack();
      });
      await publishAll(
        broker,
        topic,
        range(50).map((n) => message(n)),
      );
      await waitFor(() => seen.size === 50, '50 deliveries');
      await sub.close();
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        range(50),
      );
    },
  },
  {
    name: 'a handler that returns nothing (it settles without waiting) is served like one that returns a promise',
    async run(broker) {
      const topic = unique('t');
      const seen: number[] = [];
      const sub = await broker.subscribe(topic, { group: 'g', prefetch: 4 }, (d) => {
        seen.push(numberOf(d));
        // Settled without awaiting: the broker has no promise to follow, and must not wait for one.
        void (numberOf(d) % 5 === 0 && d.message.attempt === 1 ? d.nack() : d.ack());
      });
      await publishAll(
        broker,
        topic,
        range(20).map((n) => message(n)),
      );
      await waitFor(() => seen.length >= 24, '20 deliveries and 4 redeliveries');
      await sleep(100);
      await sub.close();
      assert.deepEqual(
        [...new Set(seen)].sort((a, b) => a - b),
        range(20),
      );
      assert.equal(seen.length, 24, 'each nacked message (0, 5, 10, 15) came back once, nothing else did');
    },
  },
  {
    name: 'an acked message is not delivered again; a nacked one is, with attempt + 1',
    async run(broker) {
      const topic = unique('t');
      const attempts: Array<[number, number]> = [];
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        attempts.push([numberOf(d), d.message.attempt]);
        if (numberOf(d) === 1 && d.message.attempt === 1) await d.nack();
        else await d.ack();
      });
      await publishAll(broker, topic, [message(0), message(1)]);
      await waitFor(() => attempts.length >= 3, 'the redelivery');
      await sleep(100);
      await sub.close();
      assert.deepEqual(
        attempts.filter(([n]) => n === 0),
        [[0, 1]],
      );
      assert.deepEqual(
        attempts.filter(([n]) => n === 1),
        [
          [1, 1],
          [1, 2],
        ],
      );
    },
  },
  {
    name: 'a message left unsettled by a consumer that goes away is redelivered to the group',
    async run(broker) {
      const topic = unique('t');
      let firstGot: Delivery | undefined;
      const first = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        firstGot = d; // never settles: the consumer "dies" holding it
      });
      await broker.publish(topic, message(7));
      await waitFor(() => firstGot !== undefined, 'the first delivery');
      await first.close();
      const redelivered: Delivery[] = [];
      const second = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        redelivered.push(d);
        await d.ack();
      });
      await waitFor(() => redelivered.length === 1, 'the redelivery');
      await second.close();
      assert.equal(numberOf(redelivered[0]!), 7);
      assert.equal(redelivered[0]!.message.attempt, 2);
    },
  },
  {
    name: 'a delivery whose lease runs out is redelivered',
    async run(broker) {
      const topic = unique('t');
      const attempts: number[] = [];
      const sub = await broker.subscribe(topic, { group: 'g', leaseMs: 300 }, async (d) => {
        attempts.push(d.message.attempt);
        if (d.message.attempt >= 2) await d.ack(); // the first attempt neither acks nor extends
      });
      await broker.publish(topic, message(1));
      await waitFor(() => attempts.length >= 2, 'the redelivery after the lease', 15_000);
      await sub.close();
      assert.deepEqual(attempts.slice(0, 2), [1, 2]);
    },
  },
  {
    name: 'extend keeps a long-running delivery from being redelivered',
    requires: 'leaseExtension',
    async run(broker) {
      const topic = unique('t');
      const attempts: number[] = [];
      const sub = await broker.subscribe(topic, { group: 'g', leaseMs: 300 }, async (d) => {
        attempts.push(d.message.attempt);
        for (let i = 0; i < 6; i++) {
          await sleep(150);
          await d.extend(300);
        }
        await d.ack();
      });
      await broker.publish(topic, message(1));
      await waitFor(() => attempts.length >= 1, 'the delivery');
      await sleep(1_200);
      await sub.close();
      assert.deepEqual(attempts, [1]);
    },
  },
  {
    name: 'competing consumers in one group get disjoint sets that cover every message',
    requires: 'competingConsumers',
    async run(broker) {
      const topic = unique('t');
      const got: number[][] = [[], []];
      const subs = await Promise.all(
        [0, 1].map((i) =>
          broker.subscribe(topic, { group: 'workers', prefetch: 4 }, async (d) => {
            got[i]!.push(numberOf(d));
            await sleep(1);
            await d.ack();
          }),
        ),
      );
      await publishAll(
        broker,
        topic,
        range(100).map((n) => message(n)),
      );
      await waitFor(() => got[0]!.length + got[1]!.length >= 100, '100 deliveries');
      await sleep(100);
      await Promise.all(subs.map((s) => s.close()));
      const all = [...got[0]!, ...got[1]!].sort((a, b) => a - b);
      assert.deepEqual(all, range(100), 'each message exactly once across the group');
    },
  },
  {
    name: 'each group receives every message (fan-out)',
    requires: 'fanOut',
    async run(broker) {
      const topic = unique('t');
      const byGroup = new Map<string, Set<number>>([
        ['email', new Set()],
        ['analytics', new Set()],
      ]);
      const subs = await Promise.all(
        [...byGroup].map(([group, seen]) =>
          broker.subscribe(topic, { group }, async (d) => {
            seen.add(numberOf(d));
            await d.ack();
          }),
        ),
      );
      await publishAll(
        broker,
        topic,
        range(20).map((n) => message(n)),
      );
      await waitFor(() => [...byGroup.values()].every((s) => s.size === 20), 'both groups to get 20');
      await Promise.all(subs.map((s) => s.close()));
    },
  },
  {
    name: 'messages of one key arrive in publish order, one at a time',
    requires: 'orderingByKey',
    async run(broker) {
      const topic = unique('t');
      const keys = ['a', 'b', 'c'];
      const received = new Map<string, number[]>(keys.map((k) => [k, []]));
      const inFlight = new Map<string, number>();
      let overlap = false;
      const subs = await Promise.all(
        [0, 1].map(() =>
          broker.subscribe(topic, { group: 'g', prefetch: 8 }, async (d) => {
            const key = d.message.key!;
            if ((inFlight.get(key) ?? 0) > 0) overlap = true;
            inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
            received.get(key)!.push(numberOf(d));
            await sleep(Math.random() * 3);
            inFlight.set(key, inFlight.get(key)! - 1);
            await d.ack();
          }),
        ),
      );
      for (const n of range(60)) await broker.publish(topic, message(n, { key: keys[n % 3]! }));
      await waitFor(() => [...received.values()].every((r) => r.length >= 20), '60 deliveries', 20_000);
      await Promise.all(subs.map((s) => s.close()));
      assert.equal(overlap, false, 'two messages of one key were in flight at once');
      for (const [key, ns] of received) {
        assert.deepEqual(
          ns,
          range(60).filter((n) => keys[n % 3] === key),
          `order of key ${key}`,
        );
      }
    },
  },
  {
    name: 'a group can replay from the earliest message, a sequence or a time',
    requires: 'replay',
    async run(broker) {
      const topic = unique('t');
      const receipts = [];
      for (const n of range(10)) receipts.push(await broker.publish(topic, message(n)));
      const collect = async (
        group: string,
        start: Parameters<Broker['subscribe']>[1]['start'],
        count: number,
      ) => {
        const seen: number[] = [];
        const sub = await broker.subscribe(topic, { group, start }, async (d) => {
          seen.push(numberOf(d));
          await d.ack();
        });
        await waitFor(() => seen.length >= count, `${count} replayed messages`);
        await sleep(50);
        await sub.close();
        return seen.sort((a, b) => a - b);
      };
      assert.deepEqual(await collect('from-start', { from: 'earliest' }, 10), range(10));
      const fifth = receipts[5]!.sequence;
      assert.notEqual(fifth, undefined, 'publish receipts carry a sequence where replay is supported');
      assert.deepEqual(await collect('from-seq', { from: 'sequence', sequence: fifth! }, 5), [5, 6, 7, 8, 9]);
      assert.ok(typeof broker.seek === 'function', 'replay requires seek');
      await broker.seek(topic, 'from-start', { from: 'earliest' });
      assert.deepEqual(await collect('from-start', undefined, 10), range(10));
      assert.deepEqual(await collect('from-time', { from: 'time', time: Date.now() + 60_000 }, 0), []);
    },
  },
  {
    name: 'a delayed message is not delivered before its delay',
    requires: 'delay',
    async run(broker) {
      const topic = unique('t');
      let receivedAt = 0;
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        receivedAt = Date.now();
        await d.ack();
      });
      const publishedAt = Date.now();
      await broker.publish(topic, message(1, { delayMs: 400 }));
      await waitFor(() => receivedAt > 0, 'the delayed delivery');
      await sub.close();
      assert.ok(
        receivedAt - publishedAt >= 395,
        `delivered after ${receivedAt - publishedAt} ms, delay was 400 ms`,
      );
    },
  },
  {
    name: 'nack with a delay holds the redelivery back',
    requires: 'delay',
    async run(broker) {
      const topic = unique('t');
      const times: number[] = [];
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        times.push(Date.now());
        if (d.message.attempt === 1) await d.nack({ delayMs: 300 });
        else await d.ack();
      });
      await broker.publish(topic, message(1));
      await waitFor(() => times.length >= 2, 'the redelivery');
      await sub.close();
      assert.ok(times[1]! - times[0]! >= 295, `redelivered after ${times[1]! - times[0]!} ms`);
    },
  },
  {
    name: 'a subscription never holds more than `prefetch` unsettled deliveries',
    async run(broker) {
      const topic = unique('t');
      let unsettled = 0;
      let peak = 0;
      let done = 0;
      const sub = await broker.subscribe(topic, { group: 'g', prefetch: 3 }, async (d) => {
        unsettled++;
        peak = Math.max(peak, unsettled);
        await sleep(20);
        unsettled--;
        done++;
        await d.ack();
      });
      await publishAll(
        broker,
        topic,
        range(20).map((n) => message(n)),
      );
      await waitFor(() => done >= 20, '20 settled');
      await sub.close();
      assert.ok(peak <= 3, `peak unsettled ${peak} > prefetch 3`);
      assert.ok(peak >= 2, `peak unsettled ${peak}: prefetch should allow concurrency`);
    },
  },
  {
    name: 'ids, keys, headers and binary bodies round trip unchanged',
    async run(broker) {
      const topic = unique('t');
      const allBytes = Uint8Array.from(range(256));
      const sent: OutgoingMessage[] = [
        { id: 'bin-1', key: 'k/ü', headers: { 'ce-subject': 'grüße ✓', 'x-empty': '' }, body: allBytes },
        { id: 'bin-2', headers: { 'ce-n': '2' }, body: new Uint8Array(0) },
      ];
      const got = new Map<string, Delivery>();
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        got.set(d.message.id, d);
        await d.ack();
      });
      for (const m of sent) await broker.publish(topic, m);
      await waitFor(() => got.size === 2, 'both messages');
      await sub.close();
      const one = got.get('bin-1')!.message;
      assert.deepEqual(Buffer.from(one.body), Buffer.from(allBytes));
      assert.equal(one.key, 'k/ü');
      assert.equal(one.headers['ce-subject'], 'grüße ✓');
      assert.equal(one.headers['x-empty'], '');
      assert.equal(one.topic, topic);
      assert.equal(got.get('bin-2')!.message.body.byteLength, 0);
    },
  },
  {
    name: 'a message at the size limit is accepted; one byte more is a MessageTooLargeError',
    async run(broker) {
      const topic = unique('t');
      const max = broker.features.maxMessageBytes;
      let got = 0;
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        got = d.message.body.byteLength;
        await d.ack();
      });
      await broker.publish(topic, { id: unique('big'), headers: {}, body: new Uint8Array(max).fill(7) });
      await assert.rejects(
        broker.publish(topic, { id: unique('too-big'), headers: {}, body: new Uint8Array(max + 1) }),
        MessageTooLargeError,
      );
      await waitFor(() => got > 0, 'the large message');
      await sub.close();
      assert.equal(got, max);
    },
  },
  {
    name: 'closing a subscription mid-stream loses nothing: the rest goes to the next consumer',
    async run(broker) {
      const topic = unique('t');
      const acked = new Set<number>();
      const first = await broker.subscribe(topic, { group: 'g', prefetch: 4 }, async (d) => {
        await sleep(10);
        acked.add(numberOf(d));
        await d.ack();
      });
      await publishAll(
        broker,
        topic,
        range(40).map((n) => message(n)),
      );
      await waitFor(() => acked.size >= 5, 'some progress');
      await first.close();
      const second = await broker.subscribe(topic, { group: 'g', prefetch: 4 }, async (d) => {
        acked.add(numberOf(d));
        await d.ack();
      });
      await waitFor(() => acked.size === 40, 'all 40 acked');
      await second.close();
    },
  },
  {
    name: 'a second publish of the same id is dropped',
    requires: 'dedup',
    async run(broker) {
      const topic = unique('t');
      const seen: string[] = [];
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => {
        seen.push(d.message.id);
        await d.ack();
      });
      const m = message(1);
      await broker.publish(topic, m);
      await broker.publish(topic, m);
      await broker.publish(topic, message(2));
      await waitFor(() => seen.length >= 2, 'two deliveries');
      await sleep(150);
      await sub.close();
      assert.equal(seen.filter((id) => id === m.id).length, 1);
    },
  },
  {
    name: 'through the pipeline, a message that keeps failing is dead-lettered with its context after maxAttempts',
    async run(broker) {
      const topic = unique('t');
      const letters: Delivery[] = [];
      const dlq = await broker.subscribe(`${topic}.dlq`, { group: 'inspect' }, async (d) => {
        letters.push(d);
        await d.ack();
      });
      let calls = 0;
      const consumer = await consume(broker, topic, {
        group: 'g',
        maxAttempts: 3,
        backoff: { baseMs: 5, maxMs: 20 },
        handler: async () => {
          calls++;
          throw new Error('always fails');
        },
      });
      const headers = encodeEnvelope(createEnvelope({ type: 'conformance.Test', source: '/conformance' }));
      await broker.publish(topic, {
        id: unique('m'),
        key: 'k1',
        headers,
        body: new TextEncoder().encode('{"x":1}'),
      });
      await waitFor(() => letters.length === 1, 'the dead letter', 20_000);
      await consumer.close();
      await dlq.close();
      const letter = readDeadLetter(letters[0]!.message);
      assert.equal(calls, 3);
      assert.equal(letter.reason, 'max-attempts');
      assert.equal(letter.attempts, 3);
      assert.equal(letter.errorMessage, 'always fails');
      assert.equal(letter.topic, topic);
      assert.equal(letter.group, 'g');
      assert.equal(new TextDecoder().decode(letter.body), '{"x":1}');
      assert.equal(letter.headers['ce-type'], 'conformance.Test');
    },
  },
  {
    name: 'through the pipeline, a poison message goes straight to the DLQ and consumption continues',
    async run(broker) {
      const topic = unique('t');
      const letters: Delivery[] = [];
      const dlq = await broker.subscribe(`${topic}.dlq`, { group: 'inspect' }, async (d) => {
        letters.push(d);
        await d.ack();
      });
      const handled: unknown[] = [];
      const consumer = await consume(broker, topic, {
        group: 'g',
        handler: async (p) => void handled.push(p),
      });
      await broker.publish(topic, {
        id: unique('poison'),
        headers: { 'ce-id': '' },
        body: new TextEncoder().encode('not json'),
      });
      const headers = encodeEnvelope(createEnvelope({ type: 'conformance.Test', source: '/conformance' }));
      await broker.publish(topic, {
        id: unique('good'),
        headers,
        body: new TextEncoder().encode('{"ok":true}'),
      });
      await waitFor(
        () => letters.length === 1 && handled.length === 1,
        'one dead letter and one handled message',
        20_000,
      );
      await consumer.close();
      await dlq.close();
      assert.equal(readDeadLetter(letters[0]!.message).reason, 'poison');
      assert.equal(readDeadLetter(letters[0]!.message).attempts, 1);
      assert.deepEqual(handled, [{ ok: true }]);
    },
  },
  {
    name: 'lag counts what a group has not yet received',
    async run(broker) {
      const topic = unique('t');
      const sub = await broker.subscribe(topic, { group: 'g' }, async (d) => d.ack());
      await sub.close(); // the group exists, nobody consumes
      await publishAll(
        broker,
        topic,
        range(5).map((n) => message(n)),
      );
      let lag = await broker.lag(topic, 'g');
      for (let i = 0; i < 100 && lag.pending < 5; i++) {
        await sleep(20); // some brokers report lag asynchronously
        lag = await broker.lag(topic, 'g');
      }
      assert.equal(lag.pending, 5);
      assert.equal(lag.inFlight, 0);
    },
  },
];
