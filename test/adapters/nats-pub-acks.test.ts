/**
 * Courier's own JetStream publish path (`pub-acks.ts`) against a real nats-server: PubAcks with their
 * sequence and dedup flag, the three typed failures, close.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublishError, NoStreamError, PubAcks, PubAckTimeoutError } from '../../src/async/nats/pub-acks.js';
import { brokerTarget, unique } from './support/env.js';

const target = await brokerTarget('nats');

describe.skipIf(!target.available)('nats PubAcks', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: target.url, noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  async function stream(): Promise<{ name: string; subject: string }> {
    const name = unique('pa').replace(/[^A-Za-z0-9_-]/g, '_');
    const subject = `pa.${name}`;
    await jsm.streams.add({ name, subjects: [subject], storage: 'memory' });
    streams.push(name);
    return { name, subject };
  }

  function withId(id: string) {
    const h = headers();
    h.set('Nats-Msg-Id', id);
    return h;
  }

  it('resolves each publish with its own sequence, and a repeated Nats-Msg-Id as a duplicate of the first', async () => {
    const { name, subject } = await stream();
    const acks = new PubAcks(nc);
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => acks.publish(subject, new Uint8Array([i % 256]), withId(`m${i}`))));
    expect(replies.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(replies.every((r) => !r.duplicate)).toBe(true);
    const again = await acks.publish(subject, new Uint8Array([7]), withId('m7'));
    expect(again).toEqual({ seq: 8, duplicate: true });
    expect((await jsm.streams.info(name)).state.messages).toBe(300);
    acks.close(new Error('done'));
  });

  it('rejects with NoStreamError when no stream captures the subject', async () => {
    const acks = new PubAcks(nc);
    await expect(acks.publish(`pa.none.${unique('x')}`, new Uint8Array(1), headers())).rejects.toBeInstanceOf(NoStreamError);
    acks.close(new Error('done'));
  });

  it('rejects with JetStreamPublishError naming what the stream refused', async () => {
    const { subject } = await stream();
    const acks = new PubAcks(nc);
    const h = headers();
    h.set('Nats-Expected-Stream', 'not-this-one');
    const refused = acks.publish(subject, new Uint8Array(1), h);
    await expect(refused).rejects.toBeInstanceOf(JetStreamPublishError);
    await expect(refused).rejects.toThrow(/expected stream/i);
    acks.close(new Error('done'));
  });

  it('rejects with PubAckTimeoutError when a responder never answers, and close rejects what is left', async () => {
    const subject = `pa.silent.${unique('s').replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const silent = nc.subscribe(subject); // a responder that never replies: no 503, no PubAck
    const acks = new PubAcks(nc, 200);
    const started = performance.now();
    await expect(acks.publish(subject, new Uint8Array(1), headers())).rejects.toBeInstanceOf(PubAckTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const left = acks.publish(subject, new Uint8Array(1), headers());
    acks.close(new Error('closing'));
    await expect(left).rejects.toThrow('closing');
    silent.unsubscribe();
  });
});
