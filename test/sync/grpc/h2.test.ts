/**
 * Edge behaviour of Courier's own HTTP/2 (`src/sync/grpc/h2/`), against an independent peer: `node:http2`
 * servers for `H2ClientSession`, `node:http2` clients and raw frames for `H2ServerSession` (through
 * `grpcServer`). Flow control with tiny windows both ways (checked on the wire by a sniffing proxy),
 * backpressure of a paused stream (trailers held behind data), CONTINUATION both ways, the peer's
 * concurrency limit, GOAWAY (refused streams, a fresh connection for the next call), the server's connection
 * rules (preface, stream ids, REFUSED_STREAM, PING, graceful close) and cancellation by RST_STREAM.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, type CourierError } from '../../../src/core/errors.js';
import { command, query, service } from '../../../src/core/contract.js';
import type { Context } from '../../../src/core/context.js';
import { HeadersTooLargeError, InternalError, UnavailableError } from '../../../src/sync/errors.js';
import { messageCodec } from '../../../src/sync/grpc/codec.js';
import { H2ClientSession, type H2ClientOptions } from '../../../src/sync/grpc/h2/client-session.js';
import { CLIENT_PREFACE, Flag, FrameType, H2Code, frame, settingsFrame } from '../../../src/sync/grpc/h2/frames.js';
import {
  type GrpcServer,
  type GrpcServerOptions,
  grpc,
  grpcServer,
  protoMethod,
} from '../../../src/sync/grpc/index.js';
import {
  type Collected,
  RawClient,
  type WireFrame,
  collector,
  encoder,
  fieldMap,
  flowControlCheck,
  grpcRequestFields,
  pattern,
  sleep,
  sniffingProxy,
  until,
} from './h2-helpers.js';

// ------------------------------------------------------------------------------------------- fixtures

/** A contract of our own: an echo (query: idempotent), a slow command (not idempotent), a stream of blobs. */
const Lab = service('lab', {
  queries: {
    echo: query({
      input: z.object({ s: z.string() }),
      output: z.object({ s: z.string(), meta: z.string() }),
    }),
    blobs: query({
      input: z.object({ n: z.number().int(), size: z.number().int() }),
      output: z.object({ b: z.string() }),
      stream: 'server',
    }),
  },
  commands: {
    work: command({ input: z.object({ ms: z.number().int() }), output: z.object({ done: z.boolean() }) }),
  },
});

interface LabSeen {
  started: number;
  cancelled: unknown[];
  open: number;
  peakOpen: number;
}

function labImplementation(seen: LabSeen) {
  return {
    echo: async (q: { s: string }, ctx: Context) => ({ s: q.s, meta: ctx.metadata?.['big'] ?? '' }),
    blobs: async function* (q: { n: number; size: number }) {
      for (let i = 0; i < q.n; i++) yield { b: String.fromCharCode(97 + (i % 26)).repeat(q.size) };
    },
    work: async (q: { ms: number }, ctx: Context) => {
      seen.started++;
      seen.open++;
      seen.peakOpen = Math.max(seen.peakOpen, seen.open);
      try {
        const cancelled = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), q.ms);
          ctx.cancel.onCancel((reason) => {
            seen.cancelled.push(reason);
            clearTimeout(timer);
            resolve(true);
          });
        });
        return { done: !cancelled };
      } finally {
        seen.open--;
      }
    },
  } as any;
}

const newSeen = (): LabSeen => ({ started: 0, cancelled: [], open: 0, peakOpen: 0 });
const echoMethod = protoMethod(Lab.queries.echo);
const echoIn = messageCodec(echoMethod.request);
const echoOut = messageCodec(echoMethod.response);
const workMethod = protoMethod(Lab.commands.work);
const workIn = messageCodec(workMethod.request);

/** Cleanups registered by a test, run after it whatever happened. */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A `node:http2` (h2c) server; its sessions are destroyed after the test. */
async function nodeServer(
  options: http2.ServerOptions,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<{ server: http2.Http2Server; port: number; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer(options);
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as AddressInfo).port, sessions };
}

function clientSession(port: number, options: H2ClientOptions = {}): H2ClientSession {
  const session = new H2ClientSession(new URL(`http://127.0.0.1:${port}`), options);
  cleanups.push(() => session.destroy());
  return session;
}

const requestBlock = (path = '/t', extra: string[] = []): Buffer =>
  encoder.encode([':method', 'POST', ':scheme', 'http', ':path', path, ':authority', '127.0.0.1', ...extra]);

/** Open a stream on `session` with `body` (or none) and collect what comes back. */
function request(
  session: H2ClientSession,
  body?: Buffer,
  c: Collected = collector(),
  path = '/t',
): Collected {
  c.stream = session.open(requestBlock(path), body === undefined, c.events);
  if (body !== undefined) c.stream.write(body, true);
  return c;
}

async function startLab(
  options: GrpcServerOptions = {},
  seen = newSeen(),
): Promise<{ server: GrpcServer; seen: LabSeen; port: number }> {
  const server = grpcServer(options);
  server.serve(Lab, labImplementation(seen));
  await server.listen();
  cleanups.push(() => server.close(100));
  return { server, seen, port: Number(server.address.split(':').pop()) };
}

/** A node:http2 server answering `/big` with an `x-big: value` header, anything else with `x-big: small`. */
function bigHeaderServer(value: string): ReturnType<typeof nodeServer> {
  return nodeServer({ maxSendHeaderBlockLength: 256 * 1024 }, (stream, headers) => {
    stream.respond({
      ':status': 200,
      'x-big': headers[':path'] === '/big' ? value : 'small',
      'x-same': 'indexed',
    });
    stream.end('ok');
  });
}

/** A `node:http2` client session (h2c) to `port`, destroyed after the test. */
function nodeClient(port: number, options: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, options);
  session.on('error', () => {});
  cleanups.push(() => session.destroy());
  return session;
}

/** A gRPC unary call with a `node:http2` client: the response body, headers and trailers. */
function nodeGrpcCall(
  session: http2.ClientHttp2Session,
  path: string,
  message: Buffer,
  extra: http2.OutgoingHttpHeaders = {},
): Promise<{
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
  stream: http2.ClientHttp2Stream;
}> {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...extra,
  });
  stream.end(message);
  return new Promise((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks), stream }));
    stream.on('error', reject);
  });
}

/** The messages of a gRPC body (5-byte prefix each). */
function grpcMessages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length;) {
    const n = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + n));
    at += 5 + n;
  }
  return out;
}

// ===================================================================================== H2ClientSession

describe('H2ClientSession against node:http2: flow control with tiny windows', () => {
  it('receives a 300 KB body through a 1 KiB stream window and a 64 KiB connection window, in order', async () => {
    const body = pattern(300_000, 7);
    const { port } = await nodeServer({}, (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(body);
    });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const session = clientSession(proxy.port, { streamWindowSize: 1024, connectionWindowSize: 65_535 });
    const c = request(session);
    await c.done;
    expect(c.abort).toBeUndefined();
    expect(fieldMap(c.headers[0])[':status']).toBe('200');
    expect(c.body().equals(body)).toBe(true);
    // From the wire: node never had to send beyond what we granted, and we did keep the windows tiny
    // (many WINDOW_UPDATEs, none for more than what was consumed).
    const check = flowControlCheck(proxy.frames, 's2c');
    expect(check.violations).toEqual([]);
    expect(check.dataBytes).toBe(300_000);
    expect(check.peakUnacked).toBeLessThanOrEqual(1024);
    const updates = proxy.frames.filter(
      (f) => f.dir === 'c2s' && f.type === FrameType.WINDOW_UPDATE && f.id !== 0,
    );
    expect(updates.length).toBeGreaterThanOrEqual(Math.floor(300_000 / 1024));
  });

  it('sends a 300 KB body to a server whose initial window is 1 KiB: never more than 1 KiB unacknowledged', async () => {
    const body = pattern(300_000, 3);
    let received: Buffer | undefined;
    let serverError: unknown;
    const { port } = await nodeServer({ settings: { initialWindowSize: 1024 } }, (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (e) => (serverError = e));
      stream.on('end', () => {
        received = Buffer.concat(chunks);
        stream.respond({ ':status': 200 });
        stream.end(String(received.length));
      });
    });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const session = clientSession(proxy.port);
    // Opened at once on a fresh connection: the stream waits for the server's SETTINGS (and so its 1 KiB
    // window) before anything is sent. (Data crossing our SETTINGS is covered server side, below.)
    const c = request(session, body);
    await c.done;
    expect(c.abort).toBeUndefined();
    expect(serverError).toBeUndefined();
    expect(c.body().toString()).toBe('300000');
    expect(received!.equals(body)).toBe(true);
    const check = flowControlCheck(proxy.frames, 'c2s');
    expect(check.violations).toEqual([]);
    expect(check.dataBytes).toBe(300_000);
    expect(check.peakUnacked).toBeLessThanOrEqual(1024);
    expect(c.stream!.sendWindow).toBeGreaterThanOrEqual(0);
  });
});

describe('H2ClientSession: close() with streams still waiting', () => {
  it('streams opened just before close() (waiting for the server SETTINGS) still run; close() then resolves', async () => {
    const { port } = await nodeServer({}, (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const session = clientSession(port);
    const calls = [request(session), request(session), request(session)];
    const closed = session.close();
    await Promise.all(calls.map((c) => c.done));
    for (const c of calls) {
      expect(c.abort).toBeUndefined();
      expect(c.body().toString()).toBe('ok');
    }
    expect(await Promise.race([closed.then(() => 'closed'), sleep(3000).then(() => 'hung')])).toBe('closed');
  });
});

describe('H2ClientSession: backpressure of a paused stream', () => {
  it('a paused stream stops the sender at the window; resume delivers everything, trailers last', async () => {
    const body = pattern(1_000_000, 11);
    let serverWroteAll = false;
    let sawBackpressure = false;
    const { port } = await nodeServer({}, (stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
      let at = 0;
      const pump = (): void => {
        while (at < body.length) {
          const ok = stream.write(body.subarray(at, at + 16_384));
          at += 16_384;
          if (!ok) {
            sawBackpressure = true;
            stream.once('drain', pump);
            return;
          }
        }
        serverWroteAll = true;
        stream.end();
      };
      pump();
    });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const session = clientSession(proxy.port, { streamWindowSize: 65_535 });
    let deliveredWhilePaused = 0;
    let paused = false;
    const c = collector({
      onHeaders: (x) => {
        if (x.headers.length === 1) {
          x.stream!.pause();
          paused = true;
        }
      },
      onData: (x) => {
        if (paused) deliveredWhilePaused += x.chunks.at(-1)!.length;
      },
    });
    request(session, undefined, c);
    await until(() => paused);
    await sleep(300);
    const sentWhilePaused = proxy.frames
      .filter((f) => f.dir === 's2c' && f.type === FrameType.DATA)
      .reduce((n, f) => n + f.payload.length, 0);
    expect(deliveredWhilePaused).toBe(0);
    expect(sentWhilePaused).toBeLessThanOrEqual(65_535); // the sender stalled at our window
    expect(sentWhilePaused).toBeGreaterThan(0);
    expect(c.stream!.recvWindow).toBe(65_535 - sentWhilePaused);
    expect(sawBackpressure).toBe(true);
    expect(serverWroteAll).toBe(false);
    paused = false;
    c.stream!.resume();
    await c.done;
    expect(c.abort).toBeUndefined();
    expect(c.body().equals(body)).toBe(true);
    expect(c.order[0]).toBe('headers');
    expect(c.order.at(-1)).toBe('trailers');
    expect(c.order.filter((o) => o === 'trailers')).toHaveLength(1);
    expect(fieldMap(c.headers[1])['x-done']).toBe('yes');
  });

  it('trailers that arrive while paused wait behind the held data, also when the consumer pauses again', async () => {
    const body = pattern(40_000, 13);
    const { port } = await nodeServer({}, (stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      for (let at = 0; at < body.length; at += 4000) stream.write(body.subarray(at, at + 4000));
      stream.end();
    });
    const session = clientSession(port, { streamWindowSize: 65_535 });
    let repauses = 0;
    const c = collector({
      onHeaders: (x) => {
        if (x.headers.length === 1) x.stream!.pause();
      },
      onData: (x) => {
        // Pause again after every few chunks during the held delivery: the rest must stay held, in order.
        if (x.chunks.length % 3 === 0) {
          repauses++;
          x.stream!.pause();
          setTimeout(() => x.stream!.resume(), 1);
        }
      },
    });
    request(session, undefined, c);
    // Everything, trailers included, arrives on the wire while paused: the stream completes there.
    await until(() => c.stream!.closed);
    await sleep(20);
    expect(c.order).toEqual(['headers']);
    c.stream!.resume();
    await c.done;
    expect(repauses).toBeGreaterThan(0);
    expect(c.body().equals(body)).toBe(true);
    expect(c.order.at(-1)).toBe('trailers');
    expect(c.order.slice(1, -1).every((o) => o === 'data')).toBe(true);
    expect(fieldMap(c.headers[1])['grpc-status']).toBe('0');
  });
});

describe('H2ClientSession: header blocks larger than a frame (CONTINUATION)', () => {
  const bigValue = (n: number): string => {
    let s = '';
    for (let i = 0; s.length < n; i++) s += ((i * 2654435761) >>> 0).toString(36);
    return s.slice(0, n);
  };

  it('request headers of ~40 KB reach a node:http2 server intact', async () => {
    const value = bigValue(40_000);
    let got: string | undefined;
    const { port } = await nodeServer(
      { maxHeaderListPairs: 200, settings: { maxHeaderListSize: 256 * 1024 } },
      (stream, headers) => {
        got = headers['x-big'] as string;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      },
    );
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const session = clientSession(proxy.port);
    await until(() => session.connected);
    await sleep(20); // the server's SETTINGS (its frame size) are in
    const c = collector();
    c.stream = session.open(requestBlock('/t', ['x-big', value]), true, c.events);
    await c.done;
    expect(c.abort).toBeUndefined();
    expect(got).toBe(value);
    const continuations = proxy.frames.filter((f) => f.dir === 'c2s' && f.type === FrameType.CONTINUATION);
    expect(continuations.length).toBeGreaterThan(0);
    expect(proxy.frames.every((f) => f.payload.length <= 16_384)).toBe(true);
  });

  it('a response header block over 16 KiB (HEADERS + CONTINUATION) is decoded; the next block still decodes', async () => {
    const value = bigValue(40_000);
    const { port } = await bigHeaderServer(value);
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const session = clientSession(proxy.port);
    const c = request(session, undefined, collector(), '/big');
    await c.done;
    expect(c.abort).toBeUndefined();
    expect(fieldMap(c.headers[0])['x-big']).toBe(value);
    expect(proxy.frames.some((f) => f.dir === 's2c' && f.type === FrameType.CONTINUATION)).toBe(true);
    // node indexes fields in its dynamic table: a second response refers to them.
    const d = request(session, undefined, collector(), '/small');
    await d.done;
    expect(fieldMap(d.headers[0])).toMatchObject({ 'x-big': 'small', 'x-same': 'indexed' });
  });

  it('a response header list above our limit fails only that stream; the connection stays in step', async () => {
    const value = bigValue(40_000);
    const { port } = await bigHeaderServer(value);
    const session = clientSession(port, { maxHeaderListSize: 16 * 1024 });
    const c = request(session, undefined, collector(), '/big');
    await c.done;
    expect(c.abort?.code).toBe(H2Code.PROTOCOL_ERROR);
    expect(session.usable).toBe(true);
    const d = request(session, undefined, collector(), '/small');
    await d.done;
    expect(d.abort).toBeUndefined();
    expect(fieldMap(d.headers[0])).toMatchObject({ 'x-big': 'small', 'x-same': 'indexed' });
  });
});

describe("H2ClientSession: the server's concurrency limit", () => {
  it('20 streams at once through a server allowing 2: all complete, never more than 2 open there', async () => {
    let open = 0;
    let peak = 0;
    const { port } = await nodeServer({ settings: { maxConcurrentStreams: 2 } }, (stream, headers) => {
      open++;
      peak = Math.max(peak, open);
      stream.on('close', () => open--);
      setTimeout(() => {
        stream.respond({ ':status': 200 });
        stream.end(String(headers[':path']));
      }, 10);
    });
    const session = clientSession(port);
    // Opened at once on a new connection, before the server's SETTINGS arrived.
    const calls = Array.from({ length: 20 }, (_, i) => request(session, undefined, collector(), `/${i}`));
    await Promise.all(calls.map((c) => c.done));
    expect(calls.map((c) => c.abort)).toEqual(calls.map(() => undefined));
    expect(calls.map((c) => c.body().toString())).toEqual(calls.map((_, i) => `/${i}`));
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBe(2);
  });
});

describe('H2ClientSession and the gRPC client: GOAWAY', () => {
  it('streams above the last stream id are refused, the session takes no new streams, the others finish', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const { port } = await nodeServer({}, (stream) => {
      held.push(stream);
      if (held.length < 3) return;
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 3);
      setTimeout(() => {
        for (const s of held.slice(0, 2)) {
          if (s.destroyed) continue;
          s.respond({ ':status': 200 });
          s.end(`answer ${s.id}`);
        }
      }, 20);
    });
    const session = clientSession(port);
    const calls = [1, 2, 3].map(() => request(session));
    await Promise.all(calls.map((c) => c.done));
    expect(calls.map((c) => c.stream!.id)).toEqual([1, 3, 5]);
    expect(calls[0]!.body().toString()).toBe('answer 1');
    expect(calls[1]!.body().toString()).toBe('answer 3');
    expect(calls[2]!.abort).toMatchObject({ refused: true });
    expect(session.usable).toBe(false);
    expect(() => session.open(requestBlock(), true, collector().events)).toThrow();
    await session.closed; // closes once the streams below the last id are done
  });

  it('the gRPC client opens a new connection for the call after a GOAWAY', async () => {
    const sessionsSeen = new Set<http2.Http2Session>();
    let calls = 0;
    const { port } = await nodeServer({}, (stream) => {
      sessionsSeen.add(stream.session!);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const input = echoIn.decode(Buffer.concat(chunks), 5) as { s: string };
        // The first call's session says GOAWAY before answering: the answer is still delivered.
        if (++calls === 1) stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(echoOut.encodeFrame({ s: input.s, meta: String(calls) }));
      });
    });
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1 });
    cleanups.push(() => transport.close());
    const lab = transport.client(Lab);
    await expect(lab.echo({ s: 'a' })).resolves.toEqual({ s: 'a', meta: '1' });
    await expect(lab.echo({ s: 'b' })).resolves.toEqual({ s: 'b', meta: '2' });
    expect(sessionsSeen.size).toBe(2);
  });
});

describe('the gRPC client: a server that resets the stream without a status', () => {
  it('maps the RST_STREAM code to the gRPC status the spec names (CANCEL → CANCELLED, ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED, others → INTERNAL)', async () => {
    const codes: number[] = [];
    const { port } = await nodeServer({}, (stream) => {
      stream.close(codes.shift()); // before any response: no status at all
    });
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1 });
    cleanups.push(() => transport.close());
    const lab = transport.client(Lab);
    const failure = async (code: number) => {
      codes.push(code);
      return lab.echo({ s: 'x' }).then(
        () => undefined,
        (e: unknown) => e as CourierError,
      );
    };
    const cancelled = await failure(http2.constants.NGHTTP2_CANCEL);
    expect(cancelled).toBeInstanceOf(CancelledError);
    const calm = await failure(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect([calm?.code, calm?.retryable]).toEqual(['RESOURCE_EXHAUSTED', true]);
    const security = await failure(http2.constants.NGHTTP2_INADEQUATE_SECURITY);
    expect(security?.code).toBe('GRPC_PERMISSION_DENIED');
    for (const code of [http2.constants.NGHTTP2_INTERNAL_ERROR, http2.constants.NGHTTP2_PROTOCOL_ERROR, http2.constants.NGHTTP2_NO_ERROR]) {
      const internal = await failure(code);
      expect(internal, `code ${code}`).toBeInstanceOf(InternalError);
      expect(internal?.retryable).toBe(false);
    }
    // REFUSED_STREAM: the server never processed it, so it stays a retryable UnavailableError.
    const refused = await failure(http2.constants.NGHTTP2_REFUSED_STREAM);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused?.retryable).toBe(true);
  });
});

// ===================================================================================== H2ServerSession

describe('H2ServerSession (grpcServer) with a raw client', () => {
  it('a bad preface gets GOAWAY PROTOCOL_ERROR and the socket closed', async () => {
    const { port } = await startLab();
    const raw = await RawClient.connect(port, false);
    raw.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await raw.closed;
    const goaway = raw.frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goaway?.payload.readUInt32BE(4)).toBe(H2Code.PROTOCOL_ERROR);
  });

  it('a preface not followed by SETTINGS (a PING, or a SETTINGS ACK) gets GOAWAY PROTOCOL_ERROR and the socket closed', async () => {
    const { port } = await startLab();
    for (const first of [frame(FrameType.PING, 0, 0, Buffer.alloc(8)), frame(FrameType.SETTINGS, Flag.ACK, 0)]) {
      const raw = await RawClient.connect(port, false);
      raw.send(CLIENT_PREFACE, first);
      await raw.closed;
      const goaway = raw.frames.find((f) => f.type === FrameType.GOAWAY);
      expect(goaway?.payload.readUInt32BE(4)).toBe(H2Code.PROTOCOL_ERROR);
      expect(raw.frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0)).toBe(false);
    }
  });

  it('a lower odd stream id is ignored (a closed stream, as nghttp2 has it); an even one is a PROTOCOL_ERROR', async () => {
    const { port, seen } = await startLab();
    const raw = await RawClient.connect(port);
    const work = workIn.encodeFrame({ ms: 0 });
    const okOn = (id: number) => (f: WireFrame) => f.id === id && fieldMap(f.fields)['grpc-status'] === '0';
    raw.send(raw.headers(5, grpcRequestFields(workMethod.path), false), raw.data(5, work, true));
    await raw.next(okOn(5));
    // Stream 3 was skipped, so it is closed: its frames are not a new request, and the connection lives on.
    raw.send(raw.headers(3, grpcRequestFields(workMethod.path), false), raw.data(3, work, true));
    raw.send(raw.headers(7, grpcRequestFields(workMethod.path), false), raw.data(7, work, true));
    await raw.next(okOn(7));
    expect(raw.frames.some((f) => f.id === 3)).toBe(false);
    expect(seen.started).toBe(2);
    raw.send(raw.headers(8, grpcRequestFields(workMethod.path), true));
    await raw.closed;
    const goaway = raw.frames.find((f) => f.type === FrameType.GOAWAY)!;
    expect(goaway.payload.readUInt32BE(4)).toBe(H2Code.PROTOCOL_ERROR);
    // Streams 5 and 7 were processed: the GOAWAY must say so, or the client would take them as safe to retry.
    expect(goaway.payload.readUInt32BE(0)).toBe(7);
  });

  it('streams above SETTINGS_MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM); the first two complete', async () => {
    const { port, seen } = await startLab({ limits: { maxConcurrentStreams: 2 } });
    const raw = await RawClient.connect(port);
    const message = workIn.encodeFrame({ ms: 50 });
    const bytes: Buffer[] = [];
    for (const id of [1, 3, 5, 7])
      bytes.push(raw.headers(id, grpcRequestFields(workMethod.path), false), raw.data(id, message, true));
    raw.send(...bytes);
    const settings = await raw.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
    expect(settings.payload.includes(Buffer.from([0, 3, 0, 0, 0, 2]))).toBe(true);
    for (const id of [1, 3]) await raw.next((f) => f.id === id && fieldMap(f.fields)['grpc-status'] === '0');
    for (const id of [5, 7]) {
      const rst = raw.frames.find((f) => f.id === id && f.type === FrameType.RST_STREAM);
      expect(rst?.payload.readUInt32BE(0)).toBe(H2Code.REFUSED_STREAM);
      expect(raw.frames.some((f) => f.id === id && f.type === FrameType.HEADERS)).toBe(false);
    }
    expect(seen.started).toBe(2);
    // Refused is not fatal: a new stream once there is room runs.
    raw.send(
      raw.headers(9, grpcRequestFields(workMethod.path), false),
      raw.data(9, workIn.encodeFrame({ ms: 0 }), true),
    );
    await raw.next((f) => f.id === 9 && fieldMap(f.fields)['grpc-status'] === '0');
    expect(raw.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  /**
   * A server stream whose client never opens its window: the deadline passes with messages queued. With a
   * window of whole messages the server ends the stream at once with DEADLINE_EXCEEDED trailers (header
   * blocks are not flow-controlled), dropping what did not fit; with a message half sent it resets the
   * stream (CANCEL) rather than leave a truncated message before the trailers.
   */
  for (const [shape, messagesInWindow] of [
    ['whole messages', 4],
    ['a message half sent', 4.5],
  ] as const) {
    it(`a server stream whose deadline passes while the client does not read ends at once (${shape} in the window)`, async () => {
      const { port } = await startLab();
      const blobs = protoMethod(Lab.queries.blobs);
      const chunk = messageCodec(blobs.response).encodeFrame({ b: 'a'.repeat(1000) }).length;
      const window = Math.floor(messagesInWindow * chunk);
      const raw = await RawClient.connect(port, false);
      raw.send(CLIENT_PREFACE, settingsFrame([[4, window]])); // SETTINGS_INITIAL_WINDOW_SIZE; never a WINDOW_UPDATE
      const started = Date.now();
      raw.send(
        raw.headers(1, grpcRequestFields(blobs.path, ['grpc-timeout', '300m']), false),
        raw.data(1, messageCodec(blobs.request).encodeFrame({ n: 100, size: 1000 }), true),
      );
      const ending = await raw.next(
        (f) => f.id === 1 && (f.type === FrameType.RST_STREAM || (f.fields !== undefined && fieldMap(f.fields)['grpc-status'] !== undefined)),
        3000,
      );
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(2000);
      const data = raw.frames.filter((f) => f.id === 1 && f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
      expect(data).toBe(window); // the window, no more: everything else was dropped, not sent
      if (messagesInWindow === 4) {
        expect(ending.type).toBe(FrameType.HEADERS);
        expect(ending.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
        expect(fieldMap(ending.fields)['grpc-status']).toBe('4'); // DEADLINE_EXCEEDED
      } else {
        expect(ending.type).toBe(FrameType.RST_STREAM);
        expect(ending.payload.readUInt32BE(0)).toBe(H2Code.CANCEL);
      }
      raw.destroy();
    });
  }

  it('a PING is answered with a PING ACK carrying the same payload', async () => {
    const { port } = await startLab();
    const raw = await RawClient.connect(port);
    const payload = Buffer.from('c0ur13r!');
    raw.send(frame(FrameType.PING, 0, 0, payload));
    const ack = await raw.next((f) => f.type === FrameType.PING);
    expect(ack.flags & Flag.ACK).toBe(Flag.ACK);
    expect(ack.payload.equals(payload)).toBe(true);
  });

  it('request headers above the limit: that stream is answered 431 and reset (not REFUSED: no retry), its DATA and the next streams are fine', async () => {
    const { port } = await startLab({ limits: { maxHeaderListBytes: 1024 } });
    const raw = await RawClient.connect(port);
    const message = echoIn.encodeFrame({ s: 'x' });
    raw.send(
      raw.headers(1, grpcRequestFields(echoMethod.path, ['x-big', 'y'.repeat(4000)]), false),
      raw.data(1, message, true),
      raw.headers(3, grpcRequestFields(echoMethod.path), false),
      raw.data(3, message, true),
    );
    await raw.next((f) => f.id === 3 && fieldMap(f.fields)['grpc-status'] === '0');
    const answer = raw.frames.find((f) => f.id === 1 && f.type === FrameType.HEADERS);
    expect(answer && fieldMap(answer.fields)[':status']).toBe('431');
    expect(answer!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    expect(
      raw.frames.find((f) => f.id === 1 && f.type === FrameType.RST_STREAM)?.payload.readUInt32BE(0),
    ).toBe(H2Code.NO_ERROR);
    expect(raw.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it('server.close() with a call in flight: GOAWAY first, the call finishes with its answer, then the socket closes', async () => {
    const { server, port, seen } = await startLab();
    const raw = await RawClient.connect(port);
    raw.send(
      raw.headers(1, grpcRequestFields(workMethod.path), false),
      raw.data(1, workIn.encodeFrame({ ms: 200 }), true),
    );
    await until(() => seen.started === 1);
    const closing = server.close(5000);
    const goaway = await raw.next((f) => f.type === FrameType.GOAWAY);
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(H2Code.NO_ERROR);
    // A stream opened after the GOAWAY is refused; the one in flight is not disturbed.
    raw.send(
      raw.headers(3, grpcRequestFields(workMethod.path), false),
      raw.data(3, workIn.encodeFrame({ ms: 0 }), true),
    );
    await raw.closed;
    await closing;
    const at = (match: (f: WireFrame) => boolean): number => raw.frames.findIndex(match);
    const trailers = at((f) => f.id === 1 && fieldMap(f.fields)['grpc-status'] === '0');
    expect(trailers).toBeGreaterThan(at((f) => f.type === FrameType.GOAWAY));
    const data = raw.frames.find((f) => f.id === 1 && f.type === FrameType.DATA)!;
    expect(messageCodec(workMethod.response).decode(data.payload, 5)).toEqual({ done: true });
    expect(
      raw.frames.find((f) => f.id === 3 && f.type === FrameType.RST_STREAM)?.payload.readUInt32BE(0),
    ).toBe(H2Code.REFUSED_STREAM);
    expect(seen.started).toBe(1);
  });
});

describe('H2ServerSession (grpcServer) against a node:http2 client', () => {
  it('300 KB each way with 1 KiB stream windows on both sides', async () => {
    const { port } = await startLab({ http2: { streamWindowSize: 1024, connectionWindowSize: 65_535 } });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const client = nodeClient(proxy.port, { settings: { initialWindowSize: 1024 } });
    const s = pattern(300_000, 1).toString('base64').slice(0, 300_000);
    const out = await nodeGrpcCall(client, echoMethod.path, echoIn.encodeFrame({ s }));
    expect(out.trailers['grpc-status']).toBe('0');
    const [message] = grpcMessages(out.body);
    expect(echoOut.decode(message!)).toEqual({ s, meta: '' });
    const up = flowControlCheck(proxy.frames, 'c2s');
    const down = flowControlCheck(proxy.frames, 's2c');
    expect(up.violations).toEqual([]);
    expect(down.violations).toEqual([]);
    expect(down.dataBytes).toBeGreaterThan(300_000);
    expect(down.peakUnacked).toBeLessThanOrEqual(1024);
  });

  it('a server stream to a client that stops reading stalls at the window and completes when it reads again', async () => {
    const { port } = await startLab({ http2: { streamWindowSize: 65_535 } });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const client = nodeClient(proxy.port, { settings: { initialWindowSize: 65_535 } });
    const blobs = protoMethod(Lab.queries.blobs);
    const stream = client.request({
      ':method': 'POST',
      ':path': blobs.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.end(messageCodec(blobs.request).encodeFrame({ n: 200, size: 5000 }));
    stream.pause();
    await sleep(300);
    const sent = (): number =>
      proxy.frames
        .filter((f) => f.dir === 's2c' && f.type === FrameType.DATA)
        .reduce((n, f) => n + f.payload.length, 0);
    const stalledAt = sent();
    expect(stalledAt).toBeGreaterThan(0);
    // node buffers what arrives and still returns window until its stream's buffer is full; the server must
    // stop far short of the whole ~1 MB answer.
    expect(stalledAt).toBeLessThan(200 * 5005);
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.resume();
    });
    const messages = grpcMessages(Buffer.concat(chunks)).map(
      (m) => (messageCodec(blobs.response).decode(m) as { b: string }).b,
    );
    expect(messages).toHaveLength(200);
    expect(messages.every((b, i) => b === String.fromCharCode(97 + (i % 26)).repeat(5000))).toBe(true);
    expect(trailers['grpc-status']).toBe('0');
  });

  it('request headers of ~40 KB (CONTINUATION) reach the handler', async () => {
    const { port } = await startLab({ limits: { maxHeaderListBytes: 128 * 1024 } });
    const proxy = await sniffingProxy(port);
    cleanups.push(() => proxy.close());
    const client = nodeClient(proxy.port, { maxSendHeaderBlockLength: 256 * 1024 });
    const big = 'q'.repeat(40_000);
    const out = await nodeGrpcCall(client, echoMethod.path, echoIn.encodeFrame({ s: 'x' }), {
      baggage: `big=${big}`,
    });
    expect(out.trailers['grpc-status']).toBe('0');
    expect(echoOut.decode(grpcMessages(out.body)[0]!)).toEqual({ s: 'x', meta: big });
    expect(proxy.frames.some((f) => f.dir === 'c2s' && f.type === FrameType.CONTINUATION)).toBe(true);
  });

  it('a client RST_STREAM CANCEL of a unary call in flight fires the handler’s ctx.cancel', async () => {
    const { port, seen } = await startLab();
    const client = nodeClient(port);
    const stream = client.request({
      ':method': 'POST',
      ':path': workMethod.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => {});
    stream.end(workIn.encodeFrame({ ms: 20_000 }));
    await until(() => seen.started === 1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => seen.cancelled.length === 1);
    expect(seen.cancelled[0]).toBeInstanceOf(CancelledError);
    expect(seen.open).toBe(0);
  });
});

describe('the gRPC client and server over our HTTP/2 on both ends', () => {
  it('a non-idempotent call cut off by a forced server close is not reported as safe to retry', async () => {
    const { server, port, seen } = await startLab();
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1 });
    cleanups.push(() => transport.close());
    const call = transport
      .client(Lab)
      .work({ ms: 20_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await until(() => seen.started === 1);
    // The grace period passes: the session is destroyed with the handler running. It ran: not "refused".
    await server.close(50);
    const error = await call;
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryable).toBe(false);
  });

  it('metadata above the server limit is HeadersTooLargeError, not retryable; the handler never runs', async () => {
    const { port, seen } = await startLab({ limits: { maxHeaderListBytes: 1024 } });
    const transport = grpc(`127.0.0.1:${port}`, { sessions: 1, metadata: { 'x-big': 'y'.repeat(4000) } });
    cleanups.push(() => transport.close());
    const error = await transport
      .client(Lab)
      .work({ ms: 0 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(HeadersTooLargeError);
    expect((error as HeadersTooLargeError).retryable).toBe(false);
    expect(seen.started).toBe(0);
  });
});
