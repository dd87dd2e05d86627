/**
 * Behaviour of the remote broker beyond the shared conformance suite: what crosses the socket (manifest,
 * errors), what happens when the connection is lost (resent publishes, resumed subscriptions, released
 * deliveries, the unavailable timeout), flow control, socket files, TCP, and closing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Broker, Delivery, OutgoingMessage, PublishReceipt } from '../../../src/async/broker.js';
import { embeddedBroker } from '../../../src/async/embedded/index.js';
import { memoryBroker } from '../../../src/async/memory/index.js';
import { remoteBroker, RemoteBrokerError, RemoteBrokerUnavailableError, serveBroker } from '../../../src/async/remote/index.js';
import { ClosedError, CourierError, MessageTooLargeError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { msg, serve, tempDir, until, type Served } from './helpers.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

let tmp: ReturnType<typeof tempDir>;
const cleanups: Array<() => Promise<void>> = [];
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  tmp.remove();
});

async function served(inner: Broker, clientOptions: Parameters<typeof serve>[2] = {}): Promise<Served> {
  const s = await serve(inner, tmp.dir, clientOptions);
  cleanups.push(() => s.close());
  return s;
}

/** A broker that forwards to `inner` but holds publish acknowledgements until `release()`. */
function withHeldAcks(inner: Broker): Broker & { release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    name: inner.name,
    features: inner.features,
    publish: async (topic, message) => {
      const receipt = await inner.publish(topic, message);
      await gate;
      return receipt;
    },
    subscribe: (t, o, h) => inner.subscribe(t, o, h),
    seek: (t, g, p) => inner.seek!(t, g, p),
    lag: (t, g) => inner.lag(t, g),
    close: () => inner.close(),
    release: () => release(),
  };
}

describe('remote broker', () => {
  it("reports the served broker's name and manifest, and offers seek only where the served broker has it", async () => {
    const withSeek = await served(memoryBroker());
    expect(withSeek.remote.servedName).toBe('memory');
    expect(withSeek.remote.features).toEqual(withSeek.inner.features);
    expect(typeof withSeek.remote.seek).toBe('function');

    const inner = memoryBroker();
    const noSeek: Broker = {
      name: 'plain',
      features: { ...inner.features, replay: false },
      publish: (t, m) => inner.publish(t, m),
      subscribe: (t, o, h) => inner.subscribe(t, o, h),
      lag: (t, g) => inner.lag(t, g),
      close: () => inner.close(),
    };
    const without = await served(noSeek);
    expect(without.remote.servedName).toBe('plain');
    expect(without.remote.features.replay).toBe(false);
    expect(without.remote.seek).toBeUndefined();
  });

  it('rejects bad input locally and rebuilds the served broker’s errors with their code and retryability', async () => {
    const inner = memoryBroker({ maxMessageBytes: 100 });
    const quota: Broker = {
      ...inner,
      name: 'quota',
      features: inner.features,
      publish: async (t, m) => {
        if (m.id.startsWith('over')) throw new CourierError('QUOTA_EXCEEDED', 'quota exceeded', { retryable: true, details: { limit: 3 } });
        return inner.publish(t, m);
      },
      subscribe: (t, o, h) => inner.subscribe(t, o, h),
      lag: (t, g) => inner.lag(t, g),
      close: () => inner.close(),
    };
    const { remote } = await served(quota);
    await expect(remote.publish('t', { id: '', headers: {}, body: new Uint8Array(1) })).rejects.toBeInstanceOf(TypeError);
    await expect(remote.publish('t', { id: 'big', headers: {}, body: new Uint8Array(101) })).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(remote.subscribe('t', { group: '' }, async () => undefined)).rejects.toBeInstanceOf(TypeError);
    const error = await remote.publish('t', { id: 'over-1', headers: {}, body: new Uint8Array(1) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteBrokerError);
    expect(error).toMatchObject({ code: 'QUOTA_EXCEEDED', retryable: true, message: 'quota exceeded', details: { limit: 3 } });
    // The connection is still usable after an error.
    expect((await remote.publish('t', msg(1))).sequence).toBe(1);
  });

  it('sends publishes that were in flight when the connection dropped again, with the same id (stored once where the broker dedups)', async () => {
    const inner = withHeldAcks(memoryBroker());
    const s = await served(inner);
    const results: PublishReceipt[] = [];
    const pending = [1, 2, 3, 4, 5].map((n) => s.remote.publish('t', msg(n)).then((r) => results.push(r)));
    const seen: string[] = [];
    const sub = await inner.subscribe('t', { group: 'g', start: { from: 'earliest' } }, async (d) => {
      seen.push(d.message.id);
      await d.ack();
    });
    cleanups.push(() => sub.close());
    await until(() => seen.length === 5, 'the first copies stored');
    s.server.disconnectAll(); // the acknowledgements are lost with the connection
    inner.release();
    await Promise.all(pending);
    expect(results.map((r) => r.id).sort()).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5']);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.sort()).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5']); // memory dedups by id: no second copy
  });

  it('without dedup (embedded), a resent publish may be stored twice but none is lost', async () => {
    const inner = withHeldAcks(embeddedBroker({ dir: tmp.dir }));
    const s = await served(inner);
    const pending = [1, 2, 3].map((n) => s.remote.publish('t', msg(n)));
    const seen: string[] = [];
    const sub = await inner.subscribe('t', { group: 'g', start: { from: 'earliest' } }, async (d) => {
      seen.push(d.message.id);
      await d.ack();
    });
    cleanups.push(() => sub.close());
    await until(() => seen.length === 3, 'the first copies stored');
    s.server.disconnectAll();
    inner.release();
    await Promise.all(pending);
    await until(() => seen.length === 6, 'the resent copies');
    expect(seen.sort()).toEqual(['m-1', 'm-1', 'm-2', 'm-2', 'm-3', 'm-3']);
  });

  it('publishes made while the server is down wait for it and succeed once it is back, in order', async () => {
    const inner = memoryBroker();
    const s = await served(inner, { reconnect: { baseMs: 5, maxMs: 20 } });
    await s.server.close();
    const pending = [1, 2, 3].map((n) => s.remote.publish('t', msg(n)));
    await new Promise((r) => setTimeout(r, 50));
    expect(s.remote.connected).toBe(false);
    const again = await serveBroker(inner, { socketPath: s.socketPath });
    cleanups.push(() => again.close());
    const receipts = await Promise.all(pending);
    expect(receipts.map((r) => r.sequence)).toEqual([1, 2, 3]);
  });

  it('after unavailableTimeoutMs without a server, waiting publishes fail with a retryable RemoteBrokerUnavailableError; it recovers when the server is back', async () => {
    const inner = memoryBroker();
    const s = await served(inner, { unavailableTimeoutMs: 150, reconnect: { baseMs: 5, maxMs: 20 } });
    await s.server.close();
    const waiting = s.remote.publish('t', msg(1));
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteBrokerUnavailableError);
    expect((error as RemoteBrokerUnavailableError).retryable).toBe(true);
    await expect(s.remote.publish('t', msg(2))).rejects.toBeInstanceOf(RemoteBrokerUnavailableError);
    await expect(s.remote.lag('t', 'g')).rejects.toBeInstanceOf(RemoteBrokerUnavailableError);
    const again = await serveBroker(inner, { socketPath: s.socketPath });
    cleanups.push(() => again.close());
    await until(() => s.remote.connected, 'the reconnect');
    expect((await s.remote.publish('t', msg(3))).id).toBe('m-3');
  });

  it('a subscription resumes after a reconnect; its unsettled delivery comes again with attempt + 1 and the stale ack is a no-op', async () => {
    const inner = memoryBroker();
    const s = await served(inner, { reconnect: { baseMs: 5, maxMs: 20 } });
    const got: Delivery[] = [];
    const sub = await s.remote.subscribe('t', { group: 'g', leaseMs: 60_000 }, async (d) => {
      got.push(d);
      if (d.message.attempt > 1 || d.message.id !== 'm-1') await d.ack();
    });
    await s.remote.publish('t', msg(1));
    await until(() => got.length === 1, 'the first delivery');
    s.server.disconnectAll();
    await until(() => got.length === 2, 'the redelivery after the reconnect');
    expect(got[1]!.message).toMatchObject({ id: 'm-1', attempt: 2 });
    await got[0]!.ack(); // settled on a connection that is gone: nothing happens
    await s.remote.publish('t', msg(2));
    await until(() => got.length === 3, 'a new message on the resumed subscription');
    expect(got[2]!.message).toMatchObject({ id: 'm-2', attempt: 1 });
    const lag = await s.remote.lag('t', 'g');
    expect(lag).toMatchObject({ pending: 0, inFlight: 0 });
    await sub.close();
  });

  it('never lets a client hold more than prefetch: a redelivery made before the client gave up waits for credit', async () => {
    const brokerClock = new FakeClock();
    const inner = memoryBroker({ clock: brokerClock });
    const s = await served(inner, { clock: new FakeClock() }); // the client's lease never runs out here
    const got: Delivery[] = [];
    const sub = await s.remote.subscribe('t', { group: 'g', prefetch: 1, leaseMs: 1000 }, async (d) => {
      got.push(d);
    });
    await s.remote.publish('t', msg(1));
    await until(() => got.length === 1, 'the first delivery');
    await brokerClock.advance(1000); // the broker's lease runs out: it redelivers m-1, to the same consumer
    await new Promise((r) => setTimeout(r, 100));
    expect(got.length).toBe(1); // held on the server: no credit
    await got[0]!.ack(); // too late for the broker (its lease ran out) but it returns the credit
    await until(() => got.length === 2, 'the held redelivery');
    expect(got[1]!.message).toMatchObject({ id: 'm-1', attempt: 2 });
    await got[1]!.ack();
    await sub.close();
  });

  it('server close gives the clients’ unsettled deliveries back to the group', async () => {
    const inner = memoryBroker();
    const s = await served(inner);
    let held: Delivery | undefined;
    await s.remote.subscribe('t', { group: 'g', leaseMs: 60_000 }, async (d) => {
      held = d;
    });
    await s.remote.publish('t', msg(1));
    await until(() => held !== undefined, 'the remote delivery');
    await s.server.close();
    const again: Delivery[] = [];
    const direct = await inner.subscribe('t', { group: 'g' }, async (d) => {
      again.push(d);
      await d.ack();
    });
    cleanups.push(() => direct.close());
    await until(() => again.length === 1, 'the released message');
    expect(again[0]!.message).toMatchObject({ id: 'm-1', attempt: 2 });
  });

  it('replaces a stale socket file, refuses a path a live server holds, and serves over TCP on 127.0.0.1', async () => {
    const socketPath = join(tmp.dir, 'stale.sock');
    const first = await serveBroker(memoryBroker(), { socketPath });
    const refused = await serveBroker(memoryBroker(), { socketPath }).catch((e: unknown) => e);
    expect(String(refused)).toMatch(/already listening/);
    first.disconnectAll();
    await first.close();
    writeFileSync(join(tmp.dir, 'plain-file'), 'x');
    await expect(serveBroker(memoryBroker(), { socketPath: join(tmp.dir, 'plain-file') })).rejects.toThrow(/not a socket/);

    const inner = memoryBroker();
    const tcp = await serveBroker(inner, { port: 0 });
    cleanups.push(async () => {
      await tcp.close();
      await inner.close();
    });
    const port = 'port' in tcp.address ? tcp.address.port : 0;
    expect(port).toBeGreaterThan(0);
    const client = await remoteBroker({ port });
    cleanups.push(() => client.close());
    const got: string[] = [];
    await client.subscribe('t', { group: 'g' }, async (d) => {
      got.push(d.message.id);
      await d.ack();
    });
    await client.publish('t', msg(9));
    await until(() => got.length === 1, 'the TCP delivery');
    expect(got).toEqual(['m-9']);
  });

  it('fails to connect with RemoteBrokerUnavailableError when nobody serves the address', async () => {
    await expect(remoteBroker({ socketPath: join(tmp.dir, 'nobody.sock'), connectTimeoutMs: 100 })).rejects.toBeInstanceOf(RemoteBrokerUnavailableError);
  });

  it('close() waits for publishes in flight and closes subscriptions; afterwards every call is a ClosedError', async () => {
    const inner = withHeldAcks(memoryBroker());
    const s = await served(inner);
    const sub = await s.remote.subscribe('t', { group: 'g' }, async (d) => d.ack());
    const publishes = [1, 2, 3].map((n) => s.remote.publish('t', msg(n)));
    let closed = false;
    const closing = s.remote.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    inner.release();
    await closing;
    expect((await Promise.all(publishes)).map((r) => r.id)).toEqual(['m-1', 'm-2', 'm-3']);
    await sub.close(); // idempotent
    await expect(s.remote.publish('t', msg(4))).rejects.toBeInstanceOf(ClosedError);
    await expect(s.remote.subscribe('t', { group: 'g' }, async () => undefined)).rejects.toBeInstanceOf(ClosedError);
    await expect(s.remote.lag('t', 'g')).rejects.toBeInstanceOf(ClosedError);
  });

  it('keeps order and loses nothing when far more publishes are issued at once than maxInFlight allows', async () => {
    const inner = memoryBroker();
    const s = await served(inner, { maxInFlight: 7 });
    const messages: OutgoingMessage[] = Array.from({ length: 500 }, (_, n) => msg(n));
    const receipts = await Promise.all(messages.map((m) => s.remote.publish('t', m)));
    expect(receipts.map((r) => r.sequence)).toEqual(messages.map((_, i) => i + 1));
  });
});
