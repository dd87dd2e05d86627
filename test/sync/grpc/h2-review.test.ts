/**
 * Review findings on Courier's own HTTP/2 (`src/sync/grpc/h2/`) and its gRPC use: each test failed before
 * its fix. Server resource bounds against a hostile raw client (rapid reset and provoked resets, a
 * CONTINUATION flood of empty frames, a socket that never sends the preface, a PING flood from a peer that
 * does not read) and the client's retry decision for a streaming call cut off before its response headers.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { command, service } from '../../../src/core/contract.js';
import type { Context } from '../../../src/core/context.js';
import { UnavailableError } from '../../../src/sync/errors.js';
import { messageCodec } from '../../../src/sync/grpc/codec.js';
import {
  CLIENT_PREFACE,
  Flag,
  FrameType,
  H2Code,
  Setting,
  frame,
  rstStream,
  settingsFrame,
  windowUpdate,
} from '../../../src/sync/grpc/h2/frames.js';
import { type GrpcServerOptions, grpc, grpcServer, protoMethod } from '../../../src/sync/grpc/index.js';
import { RawClient, encoder, fieldMap, grpcRequestFields, sleep, until } from './h2-helpers.js';

const Ops = service('ops', {
  commands: {
    charge: command({ input: z.object({ ms: z.number().int() }), output: z.object({ done: z.boolean() }) }),
    /** A server stream whose handler does its (non-idempotent) work before it hands back the iterable. */
    export: command({
      input: z.object({ ms: z.number().int() }),
      output: z.object({ n: z.number().int() }),
      stream: 'server',
    }),
    /** A server stream of up to `n` 1 KB messages, as fast as it is pulled. */
    flood: command({
      input: z.object({ n: z.number().int() }),
      output: z.object({ pad: z.string() }),
      stream: 'server',
    }),
  },
});

interface Seen {
  started: number;
  cancelled: number;
  pulled: number;
}

function implementation(seen: Seen) {
  const wait = (ms: number, ctx: Context) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      ctx.cancel.onCancel(() => {
        seen.cancelled++;
        clearTimeout(timer);
        resolve(true);
      });
    });
  return {
    charge: async (q: { ms: number }, ctx: Context) => {
      seen.started++;
      return { done: !(await wait(q.ms, ctx)) };
    },
    flood: (q: { n: number }) =>
      (async function* () {
        const pad = 'x'.repeat(1024);
        for (let i = 0; i < q.n; i++) {
          seen.pulled++;
          yield { pad };
        }
      })(),
    export: async (q: { ms: number }, ctx: Context) => {
      seen.started++;
      await wait(q.ms, ctx);
      return (async function* () {
        yield { n: 1 };
      })();
    },
  } as any;
}

const chargeMethod = protoMethod(Ops.commands.charge);
const chargeIn = messageCodec(chargeMethod.request);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(options: GrpcServerOptions = {}) {
  const seen: Seen = { started: 0, cancelled: 0, pulled: 0 };
  const server = grpcServer(options);
  server.serve(Ops, implementation(seen));
  await server.listen();
  cleanups.push(() => server.close(100));
  return { server, seen, port: Number(server.address.split(':').pop()) };
}

async function raw(port: number, preface = true): Promise<RawClient> {
  const client = await RawClient.connect(port, preface);
  cleanups.push(() => client.destroy());
  return client;
}

/** The client's socket closed within `ms` (a test fails fast instead of timing out). */
const closedWithin = (client: RawClient, ms = 10_000): Promise<boolean> =>
  Promise.race([client.closed.then(() => true), sleep(ms).then(() => false)]);

const goawayCode = (client: RawClient): number | undefined =>
  client.frames.find((f) => f.type === FrameType.GOAWAY)?.payload.readUInt32BE(4);

describe('H2ServerSession: bounds against a hostile client', () => {
  it.each([
    [
      'rapid reset (CVE-2023-44487): streams opened and reset by the client',
      (id: number) => rstStream(id, H2Code.CANCEL),
    ],
    [
      'resets the client provokes (WINDOW_UPDATE of 0 on a running call, CVE-2025-8671)',
      (id: number) => frame(FrameType.WINDOW_UPDATE, 0, id, Buffer.alloc(4)), // a stream error: we reset it
    ],
  ])('%s: GOAWAY ENHANCE_YOUR_CALM, and handler work stays bounded', async (_what, resetting) => {
    const { port, seen } = await start({ http2: { resetBurst: 100, resetRate: 10 } });
    const client = await raw(port);
    const message = chargeIn.encodeFrame({ ms: 60_000 });
    const bytes: Buffer[] = [];
    for (let i = 0, id = 1; i < 1000; i++, id += 2) {
      bytes.push(
        client.headers(id, grpcRequestFields(chargeMethod.path), false),
        client.data(id, message, true),
        resetting(id),
      );
    }
    client.send(...bytes);
    expect(await closedWithin(client)).toBe(true);
    expect(goawayCode(client)).toBe(H2Code.ENHANCE_YOUR_CALM);
    // Each stream was closed at once, so the concurrency limit never applied: the reset budget is the bound.
    expect(seen.started).toBeLessThanOrEqual(110);
  });

  it('a client that cancels now and then, within the reset budget, is not disconnected', async () => {
    const { port, seen } = await start({ http2: { resetBurst: 20, resetRate: 10 } });
    const client = await raw(port);
    const message = chargeIn.encodeFrame({ ms: 60_000 });
    for (let i = 0, id = 1; i < 15; i++, id += 2) {
      client.send(
        client.headers(id, grpcRequestFields(chargeMethod.path), false),
        client.data(id, message, true),
        rstStream(id, H2Code.CANCEL),
      );
    }
    await until(() => seen.cancelled === 15);
    await sleep(50);
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('a CONTINUATION flood of empty frames is a connection error, not unbounded buffering', async () => {
    const { port } = await start();
    const client = await raw(port);
    const block = encoder.encode(grpcRequestFields(chargeMethod.path));
    const empty = frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0));
    // 600,000 empty CONTINUATIONs: 5.4 MB on the wire, nothing to decode, each one held until END_HEADERS.
    const flood = Buffer.alloc(empty.length * 600_000);
    for (let at = 0; at < flood.length; at += empty.length) empty.copy(flood, at);
    client.send(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 4)), flood);
    expect(await closedWithin(client)).toBe(true);
    expect(goawayCode(client)).toBe(H2Code.ENHANCE_YOUR_CALM);
  });

  it('the header block cap follows the header list limit: a list over it is a stream error, a block far over it a connection error', async () => {
    // Limit 16 KiB: blocks up to 4 × 16 KiB + 64 KiB are decoded (a list too large is answered 431 on its
    // stream, the connection goes on); a bigger block is an attack. Before, the cap was a fixed 4 MB.
    const { port } = await start({ limits: { maxHeaderListBytes: 16 * 1024 } });
    const inBlocks = (id: number, fields: string[]): Buffer[] => {
      const block = encoder.encode(fields);
      const frames: Buffer[] = [];
      for (let at = 0; at < block.length; at += 16_384) {
        const last = at + 16_384 >= block.length;
        frames.push(frame(at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, id, block.subarray(at, at + 16_384)));
      }
      return frames;
    };
    // Incompressible values (random hex), so the block is about as large as the list.
    const noise = (bytes: number): string => randomBytes(bytes / 2).toString('hex');
    const client = await raw(port);
    client.send(...inBlocks(1, grpcRequestFields(chargeMethod.path, ['x-big', noise(40_000)])));
    const refused = await client.next((f) => f.id === 1 && f.type === FrameType.HEADERS);
    expect(fieldMap(refused.fields)[':status']).toBe('431');
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    client.send(...inBlocks(3, grpcRequestFields(chargeMethod.path, ['x-big', noise(200_000)])));
    expect(await closedWithin(client)).toBe(true);
    expect(goawayCode(client)).toBe(H2Code.ENHANCE_YOUR_CALM);
  });

  it('a socket that never sends the connection preface is closed after prefaceTimeoutMs', async () => {
    const { port } = await start({ http2: { prefaceTimeoutMs: 100 } });
    const client = await raw(port, false);
    expect(await closedWithin(client, 2000)).toBe(true);
  });

  it('a client that sent its preface and SETTINGS is not closed by the preface timeout', async () => {
    const { port } = await start({ http2: { prefaceTimeoutMs: 50 } });
    const client = await raw(port);
    await client.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
    await sleep(200);
    client.send(
      client.headers(1, grpcRequestFields(chargeMethod.path), false),
      client.data(1, chargeIn.encodeFrame({ ms: 0 }), true),
    );
    await client.next((f) => f.id === 1 && f.type === FrameType.HEADERS);
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });
});

describe('the gRPC client: retry decisions for streaming calls', () => {
  it('a non-idempotent server stream cut off after its handler ran (before response headers) is not safe to retry', async () => {
    const { server, port, seen } = await start();
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1 });
    cleanups.push(() => transport.close());
    const call = transport
      .client(Ops)
      .export({ ms: 20_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await until(() => seen.started === 1);
    await server.close(50); // the grace passes: the session is destroyed with the handler running
    const error = await call;
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryable).toBe(false);
  });
});

describe('H2ServerSession: a peer that does not read', () => {
  it('a PING flood from a client that never reads the ACKs ends in a connection error, not an unbounded write buffer', async () => {
    const { server, port } = await start();
    const client = await raw(port);
    client.socket.pause();
    const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
    // 1,000,000 PINGs: 17 MB of ACKs, more than the kernel's socket buffers hold.
    const batch = Buffer.alloc(ping.length * 100_000);
    for (let at = 0; at < batch.length; at += ping.length) ping.copy(batch, at);
    for (let i = 0; i < 10 && !client.socket.destroyed; i++) {
      client.socket.write(batch);
      await sleep(20);
    }
    const sessions = (server as unknown as { sessions: Set<{ closed: Promise<void> }> }).sessions;
    await until(() => sessions.size === 0, 10_000);
  });
});

describe('H2ServerSession: a client that grants huge windows but does not read', () => {
  it('stops pulling a server stream once the socket is congested (bounded memory), and goes on when it drains', async () => {
    const { port, seen } = await start();
    const client = await raw(port, false);
    const floodMethod = protoMethod(Ops.commands.flood);
    const big = 0x7fffffff;
    client.send(
      CLIENT_PREFACE,
      settingsFrame([[Setting.INITIAL_WINDOW_SIZE, big]]),
      windowUpdate(0, big - 65_535),
      client.headers(1, grpcRequestFields(floodMethod.path), false),
      client.data(1, messageCodec(floodMethod.request).encodeFrame({ n: 300_000 }), true),
    );
    await until(() => seen.pulled > 0);
    client.socket.pause(); // stop reading: the kernel's buffers fill, then the server's socket buffer
    await sleep(1500);
    const stalled = seen.pulled;
    // Without the congestion check the handler was pulled to the end (300 k × 1 KB buffered in the server).
    expect(stalled).toBeLessThan(100_000);
    await sleep(300);
    expect(seen.pulled - stalled).toBeLessThan(1_000); // really stalled, not just slow
    client.socket.resume();
    await until(() => seen.pulled === 300_000, 20_000); // the stream goes on once the client reads
  }, 30_000);
});
