import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, Delivery, OutgoingMessage } from '../../../src/async/broker.js';
import { BrokerUnavailableError, memoryBroker, type MemoryBrokerOptions } from '../../../src/async/memory/index.js';
import { ClosedError, MessageTooLargeError } from '../../../src/core/errors.js';
import { FakeClock, settle } from '../../../src/testing/fake-clock.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => broker?.close());

function setup(options: MemoryBrokerOptions = {}): void {
  clock = new FakeClock();
  broker = memoryBroker({ clock, ...options });
}

async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await settle();
}

let n = 0;
function msg(extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  n++;
  return { id: `m-${n}`, headers: { n: String(n) }, body: new Uint8Array([n & 0xff]), ...extra };
}

/** Subscribe and record every delivery (acked unless `hold`). */
async function record(topic: string, group: string, options: { hold?: boolean; start?: 'earliest'; prefetch?: number; leaseMs?: number } = {}) {
  const got: Delivery[] = [];
  const times: number[] = [];
  const sub = await broker.subscribe(
    topic,
    { group, prefetch: options.prefetch ?? 1_000, leaseMs: options.leaseMs, start: options.start ? { from: options.start } : undefined },
    async (d) => {
      got.push(d);
      times.push(clock.now());
      if (!options.hold) await d.ack();
    },
  );
  return { got, times, sub, ids: () => got.map((d) => d.message.id) };
}

describe('memory broker on a FakeClock', () => {
  it('redelivers an unsettled delivery exactly when its lease runs out, with attempt + 1', async () => {
    setup();
    const r = await record('t', 'g', { hold: true, leaseMs: 1_000 });
    await broker.publish('t', msg());
    await drain();
    await clock.advance(999);
    expect(r.got.map((d) => d.message.attempt)).toEqual([1]);
    await clock.advance(1);
    expect(r.got.map((d) => d.message.attempt)).toEqual([1, 2]);
  });

  it('holds a delayed message back until its delay has passed', async () => {
    setup();
    const start = clock.now();
    const r = await record('t', 'g');
    await broker.publish('t', msg({ delayMs: 500 }));
    await broker.publish('t', msg());
    await drain();
    expect(r.got).toHaveLength(1);
    await clock.advance(500);
    expect(r.times).toEqual([start, start + 500]);
  });

  it('drops a re-publish of an id within the dedup window and accepts it after', async () => {
    setup({ dedupWindowMs: 1_000 });
    const r = await record('t', 'g');
    const m = msg();
    const first = await broker.publish('t', m);
    expect(await broker.publish('t', m)).toEqual(first);
    await clock.advance(1_000);
    await broker.publish('t', m);
    await drain();
    expect(r.ids()).toEqual([m.id, m.id]);
  });

  it('keeps only maxMessages consumed messages for replay, but never drops what a group still needs', async () => {
    setup({ retention: { maxMessages: 10 } });
    const behind = await broker.subscribe('t', { group: 'behind' }, async () => undefined);
    await behind.close(); // group "behind" exists from sequence 1 and consumes nothing
    const receipts = [];
    for (let i = 0; i < 2_048; i++) receipts.push(await broker.publish('t', msg()));
    const all = await record('t', 'behind');
    await drain();
    expect(all.got).toHaveLength(2_048);
    for (let i = 0; i < 2_048; i++) await broker.publish('u', msg());
    const late = await record('u', 'late', { start: 'earliest' });
    await drain();
    expect(late.got).toHaveLength(10);
    expect(late.got.map((d) => Number(d.message.sequence))).toEqual(Array.from({ length: 10 }, (_, i) => 2_039 + i));
  });

  it('replays by time from the first message published at or after it', async () => {
    setup();
    await broker.publish('t', msg());
    await clock.advance(100);
    const t = clock.now();
    const second = msg();
    await broker.publish('t', second);
    await broker.publish('t', msg());
    const r = await record('t', 'g');
    await broker.seek!('t', 'g', { from: 'time', time: t });
    await drain();
    expect(r.ids()[0]).toBe(second.id);
    expect(r.got).toHaveLength(2);
  });

  it('reports lag with the age of the oldest unacked message', async () => {
    setup();
    const sub = await broker.subscribe('t', { group: 'g' }, async () => undefined);
    await sub.close();
    await broker.publish('t', msg());
    await clock.advance(250);
    await broker.publish('t', msg());
    expect(await broker.lag('t', 'g')).toEqual({ pending: 2, inFlight: 0, oldestAgeMs: 250 });
  });

  it('rejects a body over maxMessageBytes, and anything after close', async () => {
    setup({ maxMessageBytes: 10 });
    await broker.publish('t', msg({ body: new Uint8Array(10) }));
    await expect(broker.publish('t', msg({ body: new Uint8Array(11) }))).rejects.toBeInstanceOf(MessageTooLargeError);
    await broker.close();
    await expect(broker.publish('t', msg())).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('memory broker faults', () => {
  it('duplicates deliveries at duplicateRate, the same way for the same seed', async () => {
    const pattern = async (seed: number) => {
      setup({ faults: { duplicateRate: 0.5, seed } });
      const r = await record('t', 'g');
      for (let i = 0; i < 40; i++) await broker.publish('t', { id: `d-${i}`, headers: {}, body: new Uint8Array(0) });
      await drain();
      await broker.close();
      return r.ids();
    };
    const a = await pattern(42);
    const b = await pattern(42);
    const c = await pattern(7);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.length).toBeGreaterThan(40);
    expect(a.length).toBeLessThan(80);
    expect(new Set(a).size).toBe(40);
  });

  it('reorders unkeyed messages but keeps per-key order', async () => {
    setup({ faults: { reorder: true, seed: 3 } });
    const sent: OutgoingMessage[] = [];
    for (let i = 0; i < 30; i++) sent.push(msg({ key: i % 2 === 0 ? 'k' : undefined }));
    await broker.subscribe('t', { group: 'g' }, async () => undefined).then((s) => s.close());
    for (const m of sent) await broker.publish('t', m); // all due at once: the broker picks the order
    const r = await record('t', 'g', { hold: true });
    await drain();
    // keyed messages are held one at a time: settle them one by one and check their order
    const keyed: string[] = [];
    for (let i = 0; i < 30 && keyed.length < 15; i++) {
      const next = r.got.find((d) => d.message.key === 'k' && !keyed.includes(d.message.id));
      if (next === undefined) break;
      keyed.push(next.message.id);
      await next.ack();
      await drain();
    }
    expect(keyed).toEqual(sent.filter((m) => m.key === 'k').map((m) => m.id));
    const unkeyed = r.got.filter((d) => d.message.key === undefined).map((d) => d.message.id);
    const expected = sent.filter((m) => m.key === undefined).map((m) => m.id);
    expect([...unkeyed].sort()).toEqual([...expected].sort());
    expect(unkeyed).not.toEqual(expected);
  });

  it('fails publishes during an outage with a retryable error and pauses deliveries until it ends', async () => {
    setup({ faults: { outages: [{ fromMs: 100, toMs: 300 }] } });
    const start = clock.now();
    const r = await record('t', 'g');
    await broker.publish('t', msg({ delayMs: 150 }));
    await clock.advance(100);
    const error = await broker.publish('t', msg()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as BrokerUnavailableError).retryable).toBe(true);
    await clock.advance(199);
    expect(r.got).toHaveLength(0);
    await clock.advance(1);
    expect(r.times).toEqual([start + 300]);
    await broker.publish('t', msg());
    await drain();
    expect(r.got).toHaveLength(2);
  });

  it('adds latencyMs before a message can be delivered', async () => {
    setup({ faults: { latencyMs: 40 } });
    const start = clock.now();
    const r = await record('t', 'g');
    await broker.publish('t', msg());
    await clock.advance(100);
    expect(r.times).toEqual([start + 40]);
  });
});
