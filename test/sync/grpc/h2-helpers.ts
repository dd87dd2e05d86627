/**
 * Helpers for the HTTP/2 edge tests (`h2.test.ts`, `h2-tls.test.ts`): a frame-sniffing TCP proxy that checks
 * flow control from the wire, a raw HTTP/2 client that writes whatever frames a test wants, and stream event
 * collectors for `H2ClientSession`.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import {
  CLIENT_PREFACE,
  FrameParser,
  FrameType,
  Flag,
  Setting,
  frame,
  settingsFrame,
} from '../../../src/sync/grpc/h2/frames.js';
import { HpackDecoder, HpackEncoder } from '../../../src/sync/grpc/h2/hpack.js';
import type { H2Abort, H2Stream, H2StreamEvents } from '../../../src/sync/grpc/h2/stream.js';

export const encoder = new HpackEncoder();

export interface WireFrame {
  readonly dir: 'c2s' | 's2c';
  readonly type: number;
  readonly flags: number;
  readonly id: number;
  readonly payload: Buffer;
  /** Decoded header fields (HEADERS + CONTINUATION assembled), on the frame that ended the block. */
  fields?: string[];
}

/** Poll `check` every 5 ms for up to `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition not met in time');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function listenNet(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/** A parser of one direction of a connection that records frames and decodes header blocks. */
function recorder(
  dir: 'c2s' | 's2c',
  frames: WireFrame[],
  preface: Buffer | undefined,
): (chunk: Buffer) => void {
  const decoder = new HpackDecoder();
  let block: Buffer[] | undefined;
  const parser = new FrameParser(
    0xffffff,
    (type, flags, id, payload) => {
      const f: WireFrame = { dir, type, flags, id, payload: Buffer.from(payload) };
      frames.push(f);
      if (type === FrameType.HEADERS) {
        let start = 0;
        let end = payload.length;
        if ((flags & Flag.PADDED) !== 0) {
          start = 1;
          end -= payload[0]!;
        }
        if ((flags & Flag.PRIORITY) !== 0) start += 5;
        block = [Buffer.from(payload.subarray(start, end))];
      } else if (type === FrameType.CONTINUATION && block !== undefined) {
        block.push(Buffer.from(payload));
      }
      if (
        (type === FrameType.HEADERS || type === FrameType.CONTINUATION) &&
        (flags & Flag.END_HEADERS) !== 0
      ) {
        f.fields = decoder.decode(Buffer.concat(block!));
        block = undefined;
      }
    },
    preface,
  );
  return (chunk) => parser.push(chunk);
}

/** A TCP proxy in front of `targetPort` recording every frame both ways (one connection at a time is enough). */
export async function sniffingProxy(
  targetPort: number,
): Promise<{ port: number; frames: WireFrame[]; close(): void }> {
  const frames: WireFrame[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const c2s = recorder('c2s', frames, CLIENT_PREFACE);
    const s2c = recorder('s2c', frames, undefined);
    client.on('data', (chunk: Buffer) => {
      c2s(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      s2c(chunk);
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  const port = await listenNet(server);
  return {
    port,
    frames,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * Check, from the frames a proxy saw, that the DATA sent in direction `dir` never exceeded the flow-control
 * windows granted by the other side (SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATE), per stream and for the
 * connection. The proxy's view is an upper bound of the sender's (it cannot have seen a grant the proxy had
 * not forwarded yet), so any violation reported is real. Returns the violations and the peak of bytes sent
 * on a stream and not yet returned by WINDOW_UPDATE.
 */
export function flowControlCheck(
  frames: readonly WireFrame[],
  dir: 'c2s' | 's2c',
): { violations: string[]; peakUnacked: number; dataBytes: number } {
  let initial = 65_535;
  let connection = 65_535;
  const streams = new Map<number, { window: number; updates: number; sent: number }>();
  const violations: string[] = [];
  let peakUnacked = 0;
  let dataBytes = 0;
  for (const f of frames) {
    if (f.dir !== dir) {
      // The receiver's grants.
      if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) {
        for (let at = 0; at < f.payload.length; at += 6) {
          if (f.payload.readUInt16BE(at) !== Setting.INITIAL_WINDOW_SIZE) continue;
          const value = f.payload.readUInt32BE(at + 2);
          for (const s of streams.values()) s.window += value - initial;
          initial = value;
        }
      } else if (f.type === FrameType.WINDOW_UPDATE) {
        const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.id === 0) connection += inc;
        else {
          const s = streams.get(f.id);
          if (s !== undefined) {
            s.window += inc;
            s.updates += inc;
          }
        }
      }
      continue;
    }
    if (f.type === FrameType.HEADERS && !streams.has(f.id))
      streams.set(f.id, { window: initial, updates: 0, sent: 0 });
    if (f.type !== FrameType.DATA) continue;
    const s = streams.get(f.id) ?? { window: initial, updates: 0, sent: 0 };
    streams.set(f.id, s);
    const n = f.payload.length;
    dataBytes += n;
    if (n > s.window) violations.push(`stream ${f.id}: ${n} bytes of DATA with a window of ${s.window}`);
    if (n > connection) violations.push(`connection: ${n} bytes of DATA with a window of ${connection}`);
    s.window -= n;
    connection -= n;
    s.sent += n;
    // Bytes on this stream the receiver has not returned with WINDOW_UPDATE yet.
    peakUnacked = Math.max(peakUnacked, s.sent - s.updates);
  }
  return { violations, peakUnacked, dataBytes };
}

/** A raw HTTP/2 client on a plain socket: writes frames given to it, records (and decodes) what comes back. */
export class RawClient {
  readonly frames: WireFrame[] = [];
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    const record = recorder('s2c', this.frames, undefined);
    socket.on('data', (chunk: Buffer) => record(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connect; unless `preface` is false, send the client preface and an empty SETTINGS frame. */
  static async connect(port: number, preface = true): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    if (preface) client.send(CLIENT_PREFACE, settingsFrame([]));
    return client;
  }

  send(...bytes: Buffer[]): void {
    this.socket.write(Buffer.concat(bytes));
  }

  /** HEADERS (END_HEADERS) for stream `id` with `fields`. */
  headers(id: number, fields: string[], endStream: boolean): Buffer {
    return frame(
      FrameType.HEADERS,
      Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0),
      id,
      encoder.encode(fields),
    );
  }

  data(id: number, bytes: Buffer, endStream: boolean): Buffer {
    return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, id, bytes);
  }

  /** Wait for a frame matching `match` (already received or coming). */
  async next(match: (f: WireFrame) => boolean, ms = 5000): Promise<WireFrame> {
    await until(() => this.frames.some(match), ms);
    return this.frames.find(match)!;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A gRPC request header block for `path`. */
export function grpcRequestFields(path: string, extra: string[] = []): string[] {
  return [
    ':method',
    'POST',
    ':scheme',
    'http',
    ':path',
    path,
    ':authority',
    '127.0.0.1',
    'content-type',
    'application/grpc',
    'te',
    'trailers',
    ...extra,
  ];
}

/** Fields as a lookup (last value wins). */
export function fieldMap(fields: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; fields !== undefined && i < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

/** Everything an `H2ClientSession` stream reported, in order. */
export interface Collected {
  readonly events: H2StreamEvents;
  /** 'headers' | 'data' | 'trailers' | 'abort', in delivery order. */
  readonly order: string[];
  readonly headers: string[][];
  readonly chunks: Buffer[];
  abort: H2Abort | undefined;
  /** Resolves on endStream or abort. */
  readonly done: Promise<void>;
  body(): Buffer;
  stream?: H2Stream;
}

export function collector(
  hooks: { onHeaders?(c: Collected): void; onData?(c: Collected): void } = {},
): Collected {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const c: Collected = {
    order: [],
    headers: [],
    chunks: [],
    abort: undefined,
    done,
    body: () => Buffer.concat(c.chunks),
    events: {
      onHeaders(fields, endStream) {
        c.order.push(c.headers.length === 0 ? 'headers' : 'trailers');
        c.headers.push(fields);
        hooks.onHeaders?.(c);
        if (endStream) finish();
      },
      onData(chunk, endStream) {
        c.order.push('data');
        c.chunks.push(Buffer.from(chunk));
        hooks.onData?.(c);
        if (endStream) finish();
      },
      onAbort(abort) {
        c.order.push('abort');
        c.abort = abort;
        finish();
      },
    },
  };
  return c;
}

/** Deterministic bytes (a counter pattern) so order and completeness are checked, not just length. */
export function pattern(n: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return out;
}
