import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ValidationError } from '../../../src/core/errors.js';
import type { PushContext, PushGap } from '../../../src/sync/ws/client-subscription.js';
import { Fixture, Shop, deferred, waitFor } from './support.js';

const fx = new Fixture();
afterEach(() => fx.close());

const placed = (n: number) => ({ orderId: `o${n}`, n });
const subOf = (server: { stats(): { subscriptions: readonly any[] } }) => server.stats().subscriptions[0]!;

describe('ws push', () => {
  it('pushes events in order with per-subscription sequence numbers; acks free the server', async () => {
    const server = await fx.server();
    const url = await server.listen();
    const client = fx.client(url);
    const got: Array<{ n: number; seq: number; type: string }> = [];
    await client.subscribe([Shop.events.OrderPlaced], (data, push) => {
      got.push({ n: data.n, seq: push.seq, type: push.type });
    });
    for (let i = 1; i <= 20; i++) expect(server.publish(Shop.events.OrderPlaced, placed(i))).toBe(1);
    expect(server.publish(Shop.events.StockChanged, { sku: 'a', qty: 1 })).toBe(0); // not subscribed
    await waitFor(() => got.length === 20, '20 pushes');
    expect(got.map((g) => g.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(got.map((g) => g.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(got[0]!.type).toBe('shop.OrderPlaced');
    await waitFor(() => subOf(server).ackedThrough === 20, 'acks reach the server');
    expect(subOf(server).retained).toBe(0);
  });

  it('filters by subject and validates published data against the event schema', async () => {
    const server = await fx.server();
    const url = await server.listen();
    const client = fx.client(url);
    const got: PushContext[] = [];
    await client.subscribe([Shop.events.StockChanged], (_d, push) => void got.push(push), { subjects: ['sku-1'] });
    server.publish(Shop.events.StockChanged, { sku: 'sku-2', qty: 1 }, { subject: 'sku-2' });
    server.publish(Shop.events.StockChanged, { sku: 'sku-1', qty: 2 }, { subject: 'sku-1' });
    expect(() => server.publish(Shop.events.StockChanged, { sku: 'sku-1', qty: 1.5 } as any, { subject: 'sku-1' })).toThrow(
      ValidationError,
    );
    await waitFor(() => got.length === 1, 'the matching push');
    expect(got[0]).toMatchObject({ subject: 'sku-1', seq: 1, source: '/shop' });
  });

  it('resumes after a reconnect from the last acked push: nothing within retention is lost or repeated', async () => {
    const server = await fx.server({ retention: { maxCount: 1000 } });
    const url = await server.listen();
    const client = fx.client(url, { reconnect: { baseMs: 5, maxMs: 20 } });
    const got: number[] = [];
    const gaps: PushGap[] = [];
    await client.subscribe([Shop.events.OrderPlaced], (d) => void got.push(d.n), { onGap: (g) => gaps.push(g) });
    for (let i = 1; i <= 50; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    await waitFor(() => got.length >= 10, 'some pushes delivered');
    client.disconnect(); // mid-stream: some pushes are in the socket, some unacked
    for (let i = 51; i <= 100; i++) server.publish(Shop.events.OrderPlaced, placed(i)); // while away, or racing the resume
    await waitFor(() => got.length >= 100, 'all 100 pushes after the resume');
    for (let i = 101; i <= 110; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    await waitFor(() => got.length >= 110, 'live pushes after the resume');
    expect(got).toEqual(Array.from({ length: 110 }, (_, i) => i + 1));
    expect(gaps).toEqual([]);
    expect(client.connections).toBe(2);
  });

  it('survives repeated connection drops without loss or duplicates', async () => {
    const server = await fx.server();
    const url = await server.listen();
    const client = fx.client(url, { reconnect: { baseMs: 1, maxMs: 5 } });
    const got: number[] = [];
    await client.subscribe([Shop.events.OrderPlaced], async (d) => {
      got.push(d.n);
      await new Promise<void>((resolve) => setImmediate(resolve));
    });
    let n = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) server.publish(Shop.events.OrderPlaced, placed(++n));
      await waitFor(() => got.length > round * 40, 'progress');
      client.disconnect();
    }
    await waitFor(() => got.length === n, 'every push');
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('reports a gap explicitly when the pushes missed exceed retention', async () => {
    const server = await fx.server({ retention: { maxCount: 10 } });
    const url = await server.listen();
    const client = fx.client(url, { reconnect: { baseMs: 5, maxMs: 20 } });
    const got: number[] = [];
    const gaps: PushGap[] = [];
    const sub = await client.subscribe([Shop.events.OrderPlaced], (d) => void got.push(d.n), { onGap: (g) => gaps.push(g) });
    for (let i = 1; i <= 5; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    await waitFor(() => got.length === 5 && subOf(server).ackedThrough === 5, 'first five handled and acked');
    // Keep the client away while 30 more are published: only the last 10 can be kept.
    await client.close();
    await waitFor(() => server.stats().connections === 0, 'server saw the disconnect');
    for (let i = 6; i <= 35; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    expect(subOf(server).retained).toBe(10);
    // A new client resumes the same subscription (as a reconnect would): same sid, after = 5.
    const raw = new WebSocket(url);
    await new Promise((resolve) => raw.once('open', resolve));
    const frames: any[] = [];
    raw.on('message', (d) => frames.push(JSON.parse((d as Buffer).toString('utf8'))));
    raw.send(JSON.stringify({ t: 'sub', sid: sub.sid, types: ['shop.OrderPlaced'], after: 5, seen: 5 }));
    await waitFor(() => frames.length >= 12, 'subok, gap and the retained pushes');
    raw.close();
    expect(frames[0]).toMatchObject({ t: 'subok', seq: 35 });
    expect(frames[1]).toEqual({ t: 'gap', sid: sub.sid, from: 6, to: 25, reason: 'retention' });
    expect(frames.slice(2).map((f) => f.data.n)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
    expect(frames.slice(2).map((f) => f.seq)).toEqual([26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  });

  it('the client hands a retention gap to onGap in stream order, then keeps going', async () => {
    const server = await fx.server({ retention: { maxCount: 10 } });
    const url = await server.listen();
    const client = fx.client(url, { reconnect: { baseMs: 2000, maxMs: 2000 } });
    const events: string[] = [];
    await client.subscribe([Shop.events.OrderPlaced], (d) => void events.push(`push ${d.n}`), {
      onGap: (g) => events.push(`gap ${g.from}..${g.to} ${g.reason}`),
    });
    server.publish(Shop.events.OrderPlaced, placed(1));
    await waitFor(() => events.length === 1 && subOf(server).ackedThrough === 1, 'first push acked');
    client.disconnect();
    await waitFor(() => server.stats().connections === 0, 'server saw the disconnect');
    for (let i = 2; i <= 30; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    await client.connect(); // skip the 2 s backoff
    await waitFor(() => events.length === 12, 'gap and 10 retained pushes');
    expect(events[0]).toBe('push 1');
    expect(events[1]).toBe('gap 2..20 retention');
    expect(events.slice(2)).toEqual(Array.from({ length: 10 }, (_, i) => `push ${21 + i}`));
    server.publish(Shop.events.OrderPlaced, placed(31));
    await waitFor(() => events.length === 13, 'a live push after the gap');
    expect(events[12]).toBe('push 31');
  });

  it('a server that lost the subscription (restart) says so: gap of unknown size', async () => {
    const first = await fx.server();
    const url = await first.listen();
    const port = Number(new URL(url).port);
    const client = fx.client(url, { reconnect: { baseMs: 5, maxMs: 20 } });
    const got: number[] = [];
    const gaps: PushGap[] = [];
    await client.subscribe([Shop.events.OrderPlaced], (d) => void got.push(d.n), { onGap: (g) => gaps.push(g) });
    for (let i = 1; i <= 3; i++) first.publish(Shop.events.OrderPlaced, placed(i));
    await waitFor(() => got.length === 3, 'three pushes');
    await first.close();
    const second = await fx.server({ port });
    await second.listen();
    await waitFor(() => gaps.length === 1, 'the gap report');
    expect(gaps[0]).toMatchObject({ from: 4, to: undefined, reason: 'unknown-subscription' });
    second.publish(Shop.events.OrderPlaced, placed(4));
    await waitFor(() => got.length === 4, 'numbering continues');
    expect(got).toEqual([1, 2, 3, 4]);
  });
});

describe('ws push backpressure', () => {
  it('a consumer that does not ack gets at most maxInFlightPushes; the server keeps at most retention.maxCount', async () => {
    const server = await fx.server({ maxInFlightPushes: 8, retention: { maxCount: 100 } });
    const url = await server.listen();
    const client = fx.client(url);
    const release = deferred();
    const got: number[] = [];
    const gaps: PushGap[] = [];
    const sub = await client.subscribe(
      [Shop.events.OrderPlaced],
      async (d) => {
        got.push(d.n);
        await release.promise; // a stuck consumer
      },
      { onGap: (g) => gaps.push(g) },
    );
    for (let i = 1; i <= 5000; i++) server.publish(Shop.events.OrderPlaced, placed(i));
    const stats = subOf(server);
    expect(stats.retained).toBe(100);
    expect(stats.inFlight).toBeLessThanOrEqual(8);
    expect(stats.sent).toBeLessThanOrEqual(8);
    await waitFor(() => got.length === 1 && sub.pending === 7, 'the first eight arrived');
    expect(sub.pending + got.length).toBe(8);
    release.resolve();
    await waitFor(() => gaps.length === 1 && got.length === 108, 'the rest: eight, a gap, the last hundred');
    expect(got.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(gaps[0]).toMatchObject({ from: 9, to: 4900, reason: 'retention' });
    expect(got.slice(8)).toEqual(Array.from({ length: 100 }, (_, i) => 4901 + i));
  });

  it('stops pushing while the socket buffer is above the high-water mark (a consumer that stopped reading)', async () => {
    const server = await fx.server({ maxInFlightPushes: 1_000_000, highWaterMarkBytes: 64 * 1024, retention: { maxCount: 20_000 } });
    const url = await server.listen();
    const raw = new WebSocket(url);
    await new Promise((resolve) => raw.once('open', resolve));
    const subok = new Promise((resolve) => raw.once('message', resolve));
    raw.send(JSON.stringify({ t: 'sub', sid: 'slow-reader', types: ['shop.OrderPlaced'], after: 0, seen: 0 }));
    await subok;
    raw.pause(); // stop reading: the kernel buffers fill, then ws's own
    const big = 'x'.repeat(4000);
    for (let i = 1; i <= 20_000; i++) server.publish(Shop.events.OrderPlaced, { orderId: big, n: i }); // ~80 MB
    const stats = subOf(server);
    // Sent is bounded by kernel buffers + one high-water mark, far below 80 MB.
    expect(stats.sent).toBeLessThan(5000);
    expect(stats.retained).toBe(20_000);
    // Reading again drains the buffer, and the drain resumes the pushes (nothing acked: all still retained).
    let received = 0;
    raw.on('message', () => received++);
    raw.resume();
    await waitFor(() => received === 20_000, 'every push once the reader reads again');
    expect(subOf(server).sent).toBe(20_000);
    raw.terminate();
  });
});
