/**
 * Protocol 2 on the wire: the version handshake, ACKS (a turn's acks in one frame, never overtaken by a
 * later request) and DELIVER_ENTRY (messages the embedded broker reads back from its log travel as their
 * stored bytes). A proxy between client and server cuts both directions into frames and counts their types,
 * so each test sees which frames were really used, and that protocol 1 still uses the old ones.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery, OutgoingMessage } from '../../../src/async/broker.js';
import { embeddedBroker, type EmbeddedBroker } from '../../../src/async/embedded/index.js';
import { FrameDecoder } from '../../../src/async/remote/frame-decoder.js';
import { FrameEncoder } from '../../../src/async/remote/frame-encoder.js';
import { remoteBroker, serveBroker, type BrokerServer, type RemoteBroker } from '../../../src/async/remote/index.js';
import { FrameType, fromJson, toJson } from '../../../src/async/remote/protocol.js';
import { tempDir, until } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  tmp.remove();
});

/** Frame types seen in each direction through the proxy. */
interface Counts {
  readonly up: Map<number, number>;
  readonly down: Map<number, number>;
}

/** A Unix-socket proxy in front of `target` that counts the frame types passing each way. */
async function countingProxy(target: string): Promise<{ path: string; counts: Counts }> {
  const path = join(tmp.dir, `proxy-${Math.random().toString(36).slice(2)}.sock`);
  const counts: Counts = { up: new Map(), down: new Map() };
  const sockets = new Set<Socket>();
  const count = (into: Map<number, number>) => new FrameDecoder((type) => into.set(type, (into.get(type) ?? 0) + 1));
  const server: Server = createServer((client) => {
    const upstream = connect({ path: target });
    sockets.add(client).add(upstream);
    const up = count(counts.up);
    const down = count(counts.down);
    client.on('data', (chunk: Buffer) => {
      up.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down.push(chunk);
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { path, counts };
}

interface Stack {
  readonly inner: EmbeddedBroker;
  readonly server: BrokerServer;
  readonly remote: RemoteBroker;
  readonly counts: Counts;
}

async function stack(protocol?: number): Promise<Stack> {
  const inner = embeddedBroker({ dir: join(tmp.dir, `broker-${Math.random().toString(36).slice(2)}`) });
  const socketPath = join(tmp.dir, `s-${Math.random().toString(36).slice(2)}.sock`);
  const server = await serveBroker(inner, { socketPath });
  const proxy = await countingProxy(socketPath);
  const remote = await remoteBroker({ socketPath: proxy.path, ...(protocol === undefined ? {} : { protocol }) });
  cleanups.push(async () => {
    await remote.close();
    await server.close();
    await inner.close();
  });
  return { inner, server, remote, counts: proxy.counts };
}

const utf8 = new TextEncoder();

/** Messages that exercise every part of an entry: keys, no keys, odd headers, binary and empty bodies. */
function variedMessages(n: number): OutgoingMessage[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `m-${i}-ü`,
    ...(i % 3 === 0 ? { key: `k-${i % 2}-€` } : {}),
    headers: i % 4 === 0 ? {} : JSON.parse(`{"__proto__":"p${i}","n":"${i}","emoji":"🦆${i}"}`),
    body: i % 5 === 0 ? new Uint8Array() : Uint8Array.from({ length: 1 + (i % 300) }, (_, j) => (i * 31 + j) & 0xff),
  }));
}

describe('remote protocol 2', () => {
  it('negotiates the lower version: protocol 2 by default, 1 when the client offers 1; refuses a client below 1', async () => {
    const v2 = await stack();
    const v1 = await stack(1);
    expect((v2.remote as unknown as { link: { welcome: { protocol: number } } }).link.welcome.protocol).toBe(2);
    expect((v1.remote as unknown as { link: { welcome: { protocol: number } } }).link.welcome.protocol).toBe(1);
    // A hand-made client offering protocol 0 is cut off, without a WELCOME.
    const socketPath = join(tmp.dir, 'raw.sock');
    const server = await serveBroker(v2.inner, { socketPath });
    cleanups.push(() => server.close());
    const socket = connect({ path: socketPath });
    const frames: number[] = [];
    const decoder = new FrameDecoder((type) => frames.push(type));
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    const enc = new FrameEncoder();
    enc.begin(FrameType.HELLO);
    enc.str(toJson({ protocol: 0 }));
    enc.end();
    socket.write(enc.take()!);
    await closed;
    expect(frames).toEqual([]);
    await expect(remoteBroker({ socketPath, protocol: 3 })).rejects.toThrow(RangeError);
  });

  it('a newer client offering a version this server does not know yet gets the server’s newest', async () => {
    const { inner } = await stack();
    const socketPath = join(tmp.dir, 'raw2.sock');
    const server = await serveBroker(inner, { socketPath });
    cleanups.push(() => server.close());
    const socket = connect({ path: socketPath });
    cleanups.push(() => void socket.destroy());
    const welcome = new Promise<{ protocol: number }>((resolve) => {
      const decoder = new FrameDecoder((type, c) => {
        if (type === FrameType.WELCOME) resolve(fromJson(c.str()) as { protocol: number });
      });
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    });
    const enc = new FrameEncoder();
    enc.begin(FrameType.HELLO);
    enc.str(toJson({ protocol: 9 }));
    enc.end();
    socket.write(enc.take()!);
    expect((await welcome).protocol).toBe(2);
  });

  for (const protocol of [2, 1]) {
    it(`protocol ${protocol}: messages read back from the log reach a remote consumer intact${protocol === 2 ? ', as DELIVER_ENTRY frames' : ', as DELIVER frames'}`, async () => {
      const s = await stack(protocol);
      const sent = variedMessages(300);
      // Published before anyone subscribes: the group reads every one of them back from disk.
      await Promise.all(sent.map((m) => s.inner.publish('t', m)));
      const got: Delivery[] = [];
      const sub = await s.remote.subscribe('t', { group: 'g', prefetch: 64, start: { from: 'earliest' } }, async (d) => {
        got.push(d);
        await d.ack();
      });
      await until(() => got.length === sent.length, 'every message');
      await sub.close();
      expect(s.inner.stats().messagesRead).toBeGreaterThanOrEqual(sent.length);
      // Per key, order holds; compare by id.
      const byId = new Map(got.map((d) => [d.message.id, d.message]));
      sent.forEach((m, i) => {
        const r = byId.get(m.id)!;
        expect(r, m.id).toBeDefined();
        expect(r.key).toBe(m.key);
        expect({ ...r.headers }).toEqual({ ...m.headers });
        expect(Object.getPrototypeOf(r.headers)).toBe(Object.prototype);
        expect(Buffer.from(r.body).equals(Buffer.from(m.body))).toBe(true);
        expect(r.topic).toBe('t');
        expect(r.attempt).toBe(1);
        expect(typeof r.sequence).toBe('number');
        expect(r.publishedAt).toBeGreaterThan(0);
        expect(i).toBeGreaterThanOrEqual(0);
      });
      const entryFrames = s.counts.down.get(FrameType.DELIVER_ENTRY) ?? 0;
      const plainFrames = s.counts.down.get(FrameType.DELIVER) ?? 0;
      if (protocol === 2) expect([entryFrames, plainFrames]).toEqual([sent.length, 0]);
      else expect([entryFrames, plainFrames]).toEqual([0, sent.length]);
    });
  }

  it('a turn’s acks travel as one ACKS frame with one result (protocol 1: a SETTLE frame each)', async () => {
    for (const protocol of [2, 1]) {
      const s = await stack(protocol);
      const held: Delivery[] = [];
      const sub = await s.remote.subscribe('t', { group: 'g', prefetch: 200, leaseMs: 60_000 }, async (d) => {
        held.push(d);
      });
      await Promise.all(Array.from({ length: 150 }, (_, i) => s.remote.publish('t', { id: `a-${i}`, headers: {}, body: utf8.encode(`${i}`) })));
      await until(() => held.length === 150, 'every delivery');
      const acked = held.map((d) => d.ack()); // one turn
      await Promise.all(acked);
      const acks = s.counts.up.get(FrameType.ACKS) ?? 0;
      const settles = s.counts.up.get(FrameType.SETTLE) ?? 0;
      if (protocol === 2) expect([acks, settles]).toEqual([1, 0]);
      else expect([acks, settles]).toEqual([0, 150]);
      expect(await s.remote.lag('t', 'g')).toMatchObject({ pending: 0, inFlight: 0 });
      await sub.close();
    }
  });

  it('acks given right before a subscription closes are stored, not overtaken by the unsubscribe', async () => {
    const s = await stack();
    const held: Delivery[] = [];
    const sub = await s.remote.subscribe('t', { group: 'g', prefetch: 100, leaseMs: 60_000 }, async (d) => {
      held.push(d);
    });
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.remote.publish('t', { id: `c-${i}`, headers: {}, body: utf8.encode(`${i}`) })));
    await until(() => held.length === 100, 'every delivery');
    // In one turn that is not the handling of a received chunk, so the acks are still this turn's batch when
    // close() sends the unsubscribe: the client writes them first (an unsubscribe handled before them would
    // release every delivery it overtook).
    await new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        for (const d of held) void d.ack();
        sub.close().then(resolve, reject);
      }, 10),
    );
    const again: Delivery[] = [];
    const next = await s.remote.subscribe('t', { group: 'g', prefetch: 100 }, async (d) => {
      again.push(d);
      await d.ack();
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(again.map((d) => d.message.id)).toEqual([]);
    expect(await s.remote.lag('t', 'g')).toMatchObject({ pending: 0, inFlight: 0 });
    await next.close();
  });

  it('an ACKS frame listing deliveries the server does not know is answered OK; on a protocol 1 connection it is refused', async () => {
    const { inner } = await stack();
    const socketPath = join(tmp.dir, 'raw3.sock');
    const server = await serveBroker(inner, { socketPath });
    cleanups.push(() => server.close());
    const rawClient = (protocol: number) => {
      const socket = connect({ path: socketPath });
      cleanups.push(() => void socket.destroy());
      socket.on('error', () => undefined);
      const frames: Array<{ type: number; reqId?: number; kind?: number }> = [];
      const decoder = new FrameDecoder((type, c) => {
        if (type !== FrameType.RESULTS) return frames.push({ type });
        const count = c.u32();
        for (let i = 0; i < count; i++) frames.push({ type, reqId: c.u32(), kind: c.u8() });
        return frames.length;
      });
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const enc = new FrameEncoder();
      enc.begin(FrameType.HELLO);
      enc.str(toJson({ protocol }));
      enc.end();
      enc.begin(FrameType.ACKS);
      enc.u32(7);
      enc.u32(3);
      for (const id of [999, 1000, 1001]) enc.u32(id);
      enc.end();
      socket.write(enc.take()!);
      return { frames, closed };
    };
    const v2 = rawClient(2);
    await until(() => v2.frames.length === 2, 'WELCOME and the result');
    expect(v2.frames).toEqual([{ type: FrameType.WELCOME }, { type: FrameType.RESULTS, reqId: 7, kind: 0 }]);
    const v1 = rawClient(1);
    await v1.closed;
    expect(v1.frames).toEqual([{ type: FrameType.WELCOME }]);
  });
});
