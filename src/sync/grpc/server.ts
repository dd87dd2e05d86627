import {
  type Http2Server,
  type ServerOptions as Http2ServerOptions,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  createServer,
} from 'node:http2';
import { CancelSource } from '../../core/cancel.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { Implementation, ServiceContract } from '../../core/contract.js';
import { CancelledError, CourierError, DeadlineExceededError } from '../../core/errors.js';
import { Replay } from '../../reliability/idempotency/idempotency.js';
import { BadRequestError, InternalError, NotFoundError } from '../errors.js';
import { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from '../served-operation.js';
import type { ServeOptions, ServerTransport } from '../transport.js';
import { type MessageCodec, messageCodec } from './codec.js';
import { FRAME_HEADER_BYTES, FrameReader } from './framing.js';
import { MessageQueue } from './message-queue.js';
import { contextFromMetadata } from './metadata.js';
import { type ProtoService, protoService } from './proto-schema.js';
import { renderProto } from './proto-text.js';
import { GrpcStatus, errorTrailers } from './status.js';
import { StreamingOperation, isAsyncIterable } from './streaming.js';

/**
 * Courier's gRPC server: contracts served as gRPC services over `node:http2` directly (no grpc-js), with
 * protobuf messages from the `.proto` Courier generates (`proto-text.ts`; `server.proto()` returns it).
 *
 * Why its own HTTP/2 path: on our machines @grpc/grpc-js runs unary calls at 0.3–0.4× the rate of HTTP/1.1
 * JSON through undici, most of it in grpc-js's per-call machinery (call objects, filter stacks, metadata
 * objects, several promise/event hops), not in HTTP/2. Here one `'stream'` listener routes by `:path` in a
 * Map, and a unary call costs: one cancel source, one context, one frame reader, the listeners for
 * data/end/close, `respond` with a shared header object (no `date` header) + `end(frame)` + `sendTrailers`
 * with a shared OK trailer object. See bench/suites/grpc.ts for the figures.
 *
 * Wire behaviour, standard gRPC so any client interoperates: `content-type: application/grpc` (or `+proto`;
 * anything else is HTTP 415), length-prefixed messages, status in trailers (`grpc-status`, percent-encoded
 * `grpc-message`, and `courier-error-bin` for Courier clients: see `status.ts`), a trailers-only response for
 * a call that fails before any output. An unknown `:path` is UNIMPLEMENTED; a message over `maxMessageBytes`
 * is RESOURCE_EXHAUSTED (refused from its length prefix, before it is read); malformed protobuf is
 * INVALID_ARGUMENT; input failing the contract is INVALID_ARGUMENT with the issues in the Courier trailer.
 *
 * Per call, as every Courier server does (`served-operation.ts`): the context is rebuilt from metadata
 * (`metadata.ts`: `grpc-timeout` becomes the callee's deadline), a call whose deadline passed is refused, the
 * handler's `ctx.cancel` fires when the client cancels (RST_STREAM) or disconnects, or when the deadline
 * passes. Unary calls go through `ServedOperation` (validation, idempotency keys, middleware); streaming ones
 * through `StreamingOperation` (see there for what differs). A server stream is pulled from the handler's
 * iterable only as fast as HTTP/2 flow control lets the frames out; a request stream is paused when the
 * handler does not keep up (`message-queue.ts`).
 */
export interface GrpcLimits {
  /** Largest message accepted, bytes (protobuf, without the 5-byte prefix). Default 4 MiB, as gRPC's. */
  readonly maxMessageBytes?: number;
  /** Concurrent streams per connection. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** Largest header block accepted, bytes. Default 16 KiB. */
  readonly maxHeaderListBytes?: number;
}

export interface GrpcServerOptions extends ServerRuntimeOptions {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  readonly limits?: GrpcLimits;
  /** Told about every INTERNAL/UNKNOWN/UNAVAILABLE answer and every non-Courier error a handler raised. */
  readonly onError?: (error: unknown, operation: string | undefined) => void;
  /** Extra `node:http2` server options (e.g. `settings`). */
  readonly http2?: Http2ServerOptions;
}

export interface GrpcServeOptions extends ServeOptions {
  /** The proto package of the service. Default: the service name (see `proto-schema.ts`). */
  readonly package?: string;
}

type Kind = 'unary' | 'server' | 'client' | 'bidi';

interface ServerMethod {
  readonly path: string;
  readonly kind: Kind;
  readonly fullName: string;
  readonly request: MessageCodec;
  readonly response: MessageCodec;
  readonly outputWhat: string;
  readonly unary: ServedOperation | undefined;
  readonly streaming: StreamingOperation | undefined;
}

// Shared header objects: node:http2 copies them, so one object serves every call.
const RESPONSE_HEADERS = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': 'identity',
});
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
const RESPOND_STREAMING = Object.freeze({ waitForTrailers: true, sendDate: false });
const RESPOND_END = Object.freeze({ endStream: true, sendDate: false });
const QUEUE_HIGH_WATER = 32;

export class GrpcServer implements ServerTransport<GrpcServeOptions> {
  readonly name = 'grpc';
  /** The `node:http2` server, e.g. for listeners of your own. */
  readonly server: Http2Server;
  private readonly runtime: ServerRuntime;
  private readonly host: string;
  private readonly port: number;
  private readonly maxMessageBytes: number;
  private readonly onError: (error: unknown, operation: string | undefined) => void;
  private readonly methods = new Map<string, ServerMethod>();
  private readonly services: ProtoService[] = [];
  private readonly sessions = new Set<ServerHttp2Session>();
  private boundPort: number | undefined;
  private closing = false;

  constructor(options: GrpcServerOptions = {}) {
    this.runtime = new ServerRuntime(options);
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    const limits = options.limits ?? {};
    this.maxMessageBytes = limits.maxMessageBytes ?? 4 * 1024 * 1024;
    this.onError = options.onError ?? (() => {});
    this.server = createServer({
      ...options.http2,
      maxSessionMemory: options.http2?.maxSessionMemory ?? 64,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams ?? 1000,
        maxHeaderListSize: limits.maxHeaderListBytes ?? 16 * 1024,
        // Larger windows than HTTP/2's 64 KiB default: a stream of 1 KB messages should not stall on
        // WINDOW_UPDATE round trips.
        initialWindowSize: 1024 * 1024,
        ...options.http2?.settings,
      },
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {}); // a peer's protocol error closes that session only
      session.setLocalWindowSize(8 * 1024 * 1024);
    });
  }

  /** `host:port` once listening (the target gRPC clients dial). */
  get address(): string {
    if (this.boundPort === undefined) throw new Error('the server is not listening');
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.boundPort}`;
  }

  serve<C extends ServiceContract>(contract: C, implementation: Implementation<C>, options: GrpcServeOptions = {}): void {
    const described = protoService(contract, options.package === undefined ? {} : { package: options.package });
    const impl = implementation as unknown as Record<string, (input: any, ctx: Context) => any>;
    const middleware = options.middleware ?? [];
    for (const m of described.methods) {
      if (this.methods.has(m.path)) throw new TypeError(`${m.path} is already served`);
      const op = m.operation;
      const fullName = `${op.service}.${op.name}`;
      const handler = impl[op.name]!;
      this.methods.set(m.path, {
        path: m.path,
        kind: m.stream,
        fullName,
        request: messageCodec(m.request),
        response: messageCodec(m.response),
        outputWhat: `output of ${fullName}`,
        unary: m.stream === 'unary' ? new ServedOperation(op, handler, middleware, this.runtime) : undefined,
        streaming:
          m.stream === 'unary' ? undefined : new StreamingOperation(op, handler, middleware, this.runtime.clock, this.runtime.validateOutput),
      });
    }
    this.services.push(described);
  }

  /** The `.proto` of every contract served (one file per contract, in serve order). */
  proto(): string[] {
    return this.services.map(renderProto);
  }

  /** Start listening; resolves with `host:port`. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    this.boundPort = address.port;
    return this.address;
  }

  /**
   * Stop taking calls: new streams are refused (UNAVAILABLE), sessions get a GOAWAY so clients reconnect
   * elsewhere, calls in flight get `graceMs` to finish before their sessions are destroyed.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    for (const session of this.sessions) session.close();
    const timer = setTimeout(() => {
      for (const session of this.sessions) session.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  // ------------------------------------------------------------------------------------------ routing

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a reset stream must not become an unhandled 'error'
    const method = this.methods.get(headers[':path'] ?? '');
    const contentType = headers['content-type'];
    if (contentType === undefined || !isGrpcContentType(contentType)) {
      this.refuseMedia(stream, contentType);
      return;
    }
    if (this.closing) {
      this.fail(stream, new CourierError('UNAVAILABLE', 'server is shutting down', { retryable: true }), undefined);
      return;
    }
    if (method === undefined || headers[':method'] !== 'POST') {
      const path = headers[':path'] ?? '';
      this.fail(stream, new NotFoundError(`unknown method ${path}`), undefined);
      stream.resume();
      return;
    }
    const cancel = new CancelSource();
    let ctx: Context;
    try {
      ctx = contextFromMetadata(headers, this.runtime.clock.now(), cancel, method.fullName);
    } catch (error) {
      this.fail(stream, error, method.fullName);
      stream.resume();
      return;
    }
    if (method.kind === 'unary') this.unary(stream, method, ctx, cancel);
    else if (method.kind === 'server') this.serverStream(stream, method, ctx, cancel);
    else this.requestStream(stream, method, ctx, cancel);
  }

  private refuseMedia(stream: ServerHttp2Stream, contentType: string | undefined): void {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ':status': 415, 'content-type': 'text/plain' });
    stream.end(`unsupported content-type ${contentType ?? '(none)'}: gRPC needs application/grpc`);
    stream.resume();
  }

  // ------------------------------------------------------------------------------------------- unary

  private unary(stream: ServerHttp2Stream, method: ServerMethod, ctx: Context, cancel: CancelSource): void {
    new UnaryCall(this, stream, method, ctx, cancel);
  }

  /** @internal The decoded input of a unary call is in: run it and answer. */
  runUnary(call: UnaryCall, input: unknown): void {
    call.method.unary!.run(input, call.ctx).then(
      (output) => {
        call.state = ANSWERED;
        this.answer(call.stream, call.method, output);
      },
      (error: unknown) => {
        call.state = ANSWERED;
        this.fail(call.stream, error, call.method.fullName);
      },
    );
  }

  /** @internal */
  get maxMessage(): number {
    return this.maxMessageBytes;
  }

  private answer(stream: ServerHttp2Stream, method: ServerMethod, output: unknown): void {
    if (stream.destroyed || stream.headersSent) return;
    let frame: Buffer;
    try {
      frame = method.response.encodeFrame(output instanceof Replay ? JSON.parse(output.json) : output, method.outputWhat);
    } catch (error) {
      this.fail(stream, new InternalError(`output of ${method.fullName} cannot be encoded: ${(error as Error).message}`, { cause: error }), method.fullName);
      return;
    }
    stream.respond(RESPONSE_HEADERS, RESPOND_STREAMING);
    // 'wantTrailers' is emitted once per stream: a shared listener, no closure or once-wrapper per call.
    stream.on('wantTrailers', sendOkTrailers);
    stream.end(frame);
  }

  /** End a call with an error: trailers-only before any output, trailers after. */
  private fail(stream: ServerHttp2Stream, error: unknown, operation: string | undefined): void {
    const trailers = errorTrailers(error, this.runtime.exposeErrors);
    const s = trailers.status;
    if (s === GrpcStatus.INTERNAL || s === GrpcStatus.UNKNOWN || s === GrpcStatus.UNAVAILABLE || !(error instanceof CourierError)) {
      this.onError(error, operation);
    }
    if (stream.destroyed || stream.closed) return;
    if (!stream.headersSent) {
      stream.respond({ ...RESPONSE_HEADERS, ...trailers.fields }, RESPOND_END);
      return;
    }
    // Headers went out (a stream in progress, responded with waitForTrailers): end it with these trailers.
    endWith(stream, trailers.fields);
  }

  // --------------------------------------------------------------------------------------- streaming

  /** Server streaming: one request message, then the handler's iterable pumped out. */
  private serverStream(stream: ServerHttp2Stream, method: ServerMethod, ctx: Context, cancel: CancelSource): void {
    const call = new StreamCall(this, stream, method, ctx, cancel, this.runtime.clock);
    let input: unknown = undefined;
    let messages = 0;
    const reader = new FrameReader(this.maxMessageBytes, (message) => {
      if (++messages > 1) throw new BadRequestError('malformed-body', 'a server-streaming call carries exactly one request message');
      input = method.request.decode(message);
    });
    stream.on('data', (chunk: Buffer) => {
      if (call.over) return;
      try {
        reader.push(chunk);
      } catch (error) {
        call.finish(error);
      }
    });
    stream.on('end', () => {
      if (call.over) return;
      if (messages !== 1 || reader.incomplete) {
        call.finish(new BadRequestError('malformed-body', 'a server-streaming call carries exactly one request message'));
        return;
      }
      call.start(input);
    });
  }

  /** Client and bidi streaming: request messages go into a queue the handler iterates. */
  private requestStream(stream: ServerHttp2Stream, method: ServerMethod, ctx: Context, cancel: CancelSource): void {
    const call = new StreamCall(this, stream, method, ctx, cancel, this.runtime.clock);
    const queue = new MessageQueue<unknown>(
      QUEUE_HIGH_WATER,
      () => stream.pause(),
      () => stream.resume(),
      () => {},
    );
    const streaming = method.streaming!;
    // Validation of one message may be asynchronous (a non-compiled schema): keep order with a chain.
    let chain: Promise<void> | undefined;
    const deliver = (value: unknown): void => {
      try {
        const checked = streaming.validateInput(value);
        if (checked instanceof Promise || chain !== undefined) {
          const previous = chain ?? Promise.resolve();
          chain = previous.then(async () => queue.push(await checked)).catch((error: unknown) => queue.fail(error));
        } else queue.push(checked);
      } catch (error) {
        queue.fail(error);
      }
    };
    const reader = new FrameReader(this.maxMessageBytes, (message) => deliver(method.request.decode(message)));
    stream.on('data', (chunk: Buffer) => {
      if (call.over || queue.closed) return;
      try {
        reader.push(chunk);
      } catch (error) {
        queue.fail(error);
        call.finish(error);
      }
    });
    stream.on('end', () => {
      if (reader.incomplete) queue.fail(new BadRequestError('malformed-body', 'the request stream ended inside a message'));
      else if (chain !== undefined) void chain.then(() => queue.end());
      else queue.end();
    });
    call.start(queue);
  }

  /** @internal */
  report(error: unknown, operation: string): void {
    this.onError(error, operation);
  }

  /** @internal */
  failStream(stream: ServerHttp2Stream, error: unknown, operation: string): void {
    this.fail(stream, error, operation);
  }

  /** @internal */
  answerStream(stream: ServerHttp2Stream, method: ServerMethod, output: unknown): void {
    this.answer(stream, method, output);
  }
}

const READING = 0;
const RUNNING = 1;
const ANSWERED = 2;

function sendOkTrailers(this: ServerHttp2Stream): void {
  if (!this.destroyed) this.sendTrailers(OK_TRAILERS);
}

/** Per-stream listeners shared by every unary call: the call is found on the stream, so no closures per call. */
const UNARY = Symbol('courier.unaryCall');
type UnaryStream = ServerHttp2Stream & { [UNARY]?: UnaryCall };

function unaryData(this: UnaryStream, chunk: Buffer): void {
  this[UNARY]!.data(chunk);
}

function unaryEnd(this: UnaryStream): void {
  this[UNARY]!.end();
}

function unaryClose(this: UnaryStream): void {
  const call = this[UNARY]!;
  // The client cancelled (RST_STREAM), its deadline passed on its side, or the connection went away.
  if (call.state !== ANSWERED) {
    call.state = ANSWERED;
    call.cancel.cancel(new CancelledError('the client cancelled the call'));
  }
}

/**
 * One unary call on the server. The request is one message, almost always in one DATA chunk: it is decoded
 * straight from that chunk; a `FrameReader` is made only when the message is split or more bytes follow.
 */
class UnaryCall {
  state = READING;
  private input: unknown = undefined;
  private messages = 0;
  private reader: FrameReader | undefined;

  constructor(
    private readonly owner: GrpcServer,
    readonly stream: ServerHttp2Stream,
    readonly method: ServerMethod,
    readonly ctx: Context,
    readonly cancel: CancelSource,
  ) {
    (stream as UnaryStream)[UNARY] = this;
    stream.on('data', unaryData);
    stream.on('end', unaryEnd);
    stream.on('close', unaryClose);
  }

  data(chunk: Buffer): void {
    if (this.state !== READING) return;
    try {
      if (this.reader === undefined && this.messages === 0 && chunk.length >= FRAME_HEADER_BYTES && chunk[0] === 0) {
        const length = chunk.readUInt32BE(1);
        if (length + FRAME_HEADER_BYTES === chunk.length && length <= this.owner.maxMessage) {
          this.messages = 1;
          this.input = this.method.request.decode(chunk, FRAME_HEADER_BYTES, chunk.length);
          return;
        }
      }
      (this.reader ??= new FrameReader(this.owner.maxMessage, (message) => {
        if (++this.messages > 1) throw new BadRequestError('malformed-body', 'a unary call carries exactly one message');
        this.input = this.method.request.decode(message);
      })).push(chunk);
    } catch (error) {
      this.state = ANSWERED;
      this.owner.failStream(this.stream, error, this.method.fullName);
    }
  }

  end(): void {
    if (this.state !== READING) return;
    this.state = RUNNING;
    if (this.messages !== 1 || (this.reader !== undefined && this.reader.incomplete)) {
      this.state = ANSWERED;
      this.owner.failStream(this.stream, new BadRequestError('malformed-body', 'a unary call carries exactly one message'), this.method.fullName);
      return;
    }
    this.owner.runUnary(this, this.input);
  }
}

/**
 * One streaming call on the server: its deadline timer, cancellation, and the pump that writes the
 * handler's messages as fast as the stream drains.
 */
class StreamCall {
  /** Set once the call's outcome is decided (answered, failed, cancelled). */
  over = false;
  private timer: TimerHandle | undefined;
  private iterator: AsyncIterator<unknown> | undefined;

  constructor(
    private readonly owner: GrpcServer,
    private readonly stream: ServerHttp2Stream,
    private readonly method: ServerMethod,
    private readonly ctx: Context,
    private readonly cancel: CancelSource,
    private readonly clock: Clock,
  ) {
    if (ctx.deadline !== undefined) {
      const ms = Math.max(0, ctx.deadline - clock.now());
      this.timer = clock.setTimeout(
        () => this.finish(new DeadlineExceededError('deadline exceeded before the stream completed')),
        Math.min(ms, 2 ** 31 - 1),
      );
    }
    stream.on('close', () => {
      if (!this.over) this.finish(new CancelledError('the client cancelled the call'), false);
    });
  }

  /** Open the handler with `input` (a message or a queue of them) and answer or pump its output. */
  start(input: unknown): void {
    const streaming = this.method.streaming!;
    streaming.open(input, this.ctx).then(
      (result) => {
        if (this.over) {
          if (isAsyncIterable(result)) void closeIterator(result[Symbol.asyncIterator]());
          return;
        }
        if (streaming.kind === 'client') {
          this.settle();
          this.owner.answerStream(this.stream, this.method, result);
          return;
        }
        void this.pump((result as AsyncIterable<unknown>)[Symbol.asyncIterator]());
      },
      (error: unknown) => this.finish(error),
    );
  }

  /** End the call with `error` (or cancel it when the client is gone): cancel the handler, stop the pump, send trailers. */
  finish(error: unknown, send = true): void {
    if (this.over) return;
    this.settle();
    this.cancel.cancel(error);
    const iterator = this.iterator;
    this.iterator = undefined;
    if (iterator !== undefined) void closeIterator(iterator);
    if (send) this.owner.failStream(this.stream, error, this.method.fullName);
  }

  private settle(): void {
    this.over = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async pump(iterator: AsyncIterator<unknown>): Promise<void> {
    this.iterator = iterator;
    const stream = this.stream;
    const streaming = this.method.streaming!;
    stream.respond(RESPONSE_HEADERS, RESPOND_STREAMING);
    try {
      for (;;) {
        const step = await iterator.next();
        if (this.over) return;
        if (step.done === true) break;
        const value = await streaming.checkOutput(step.value);
        if (this.over) return;
        const frame = this.method.response.encodeFrame(value, this.method.outputWhat);
        if (!stream.write(frame)) await drained(stream);
        if (this.over) return;
      }
    } catch (error) {
      if (this.over) return;
      this.iterator = undefined;
      this.finish(error);
      return;
    }
    if (this.over) return;
    this.iterator = undefined;
    this.settle();
    this.cancel.dispose();
    endWith(stream, OK_TRAILERS);
  }
}

function drained(stream: ServerHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

async function closeIterator(iterator: AsyncIterator<unknown>): Promise<void> {
  try {
    await iterator.return?.();
  } catch {
    // the handler's cleanup failed after the call was over: nobody to tell
  }
}

/** End a stream that was responded with `waitForTrailers` with these trailers. */
function endWith(stream: ServerHttp2Stream, trailers: Readonly<Record<string, string>>): void {
  if (stream.destroyed || stream.closed) return;
  stream.once('wantTrailers', () => {
    if (!stream.destroyed) stream.sendTrailers(trailers);
  });
  stream.end();
}

function isGrpcContentType(value: string): boolean {
  if (!value.startsWith('application/grpc')) return false;
  const rest = value.slice(16);
  return rest === '' || rest.startsWith('+proto') || rest.startsWith(';');
}

export function grpcServer(options: GrpcServerOptions = {}): GrpcServer {
  return new GrpcServer(options);
}
