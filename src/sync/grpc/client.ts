import type { ConnectionOptions } from 'node:tls';
import { CancelToken } from '../../core/cancel.js';
import { type Clock, type TimerHandle, systemClock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { Client, OperationDef, ServiceContract } from '../../core/contract.js';
import { ClosedError, CourierError, DeadlineExceededError } from '../../core/errors.js';
import { timeout } from '../../policies/timeout.js';
import { errorForBareStatus } from '../error-registry.js';
import { BadResponseError, UnavailableError } from '../errors.js';
import { type ClientOptions, type ClientTransport, createClient } from '../transport.js';
import { type MessageCodec, messageCodec } from './codec.js';
import { FRAME_HEADER_BYTES, FrameReader } from './framing.js';
import { type H2ClientOptions, H2ClientSession } from './h2/client-session.js';
import { H2Code } from './h2/frames.js';
import { HpackEncoder } from './h2/hpack.js';
import type { H2Abort, H2Stream, H2StreamEvents } from './h2/stream.js';
import { MessageQueue } from './message-queue.js';
import { hasContextMetadata, pushContextMetadata } from './metadata.js';
import { protoMethod, protoService } from './proto-schema.js';
import { ERROR_TRAILER, GrpcStatus, decodeGrpcMessage, errorOfStatus } from './status.js';

/**
 * Courier's gRPC client transport, on Courier's own HTTP/2 connection (`h2/connection.ts`, a plain TCP or
 * TLS socket) rather than `node:http2`: a few long-lived connections (default 2, calls round-robin over
 * them), connected lazily, replaced when they fail or receive GOAWAY, each call one HTTP/2 stream.
 * Why our own HTTP/2: with `node:http2` a unary call cost ~100 µs of client CPU at 64 in flight (a Duplex
 * per stream, header objects both ways, an `AsyncResource.bind` per request), more than a whole HTTP/1.1
 * call through undici. Why two connections: one connection's frames leave once per tick, and with a single
 * one the two processes tend to run in lockstep (the server answers a batch, then idles while the client
 * handles it); a second lets their work overlap.
 *
 * Per unary call: the request frame (prefix + protobuf), one stream object that is also the exchange's event
 * sink (no listeners, no closures), one promise. The request headers are one precomputed HPACK block per
 * method (`:method`, `:scheme`, `:path`, `:authority`, `content-type`, `te`, the client's metadata); a
 * context with something to carry (deadline, trace, ids, metadata) adds a second, encoded per call.
 *
 * Semantics, as the HTTP transport's:
 * - the method path and messages come from the same description the server uses (`proto-schema.ts`), so a
 *   Courier client talks to any server implementing the generated `.proto` (grpc-js, grpcio, Go…);
 * - the deadline travels as `grpc-timeout` and is also enforced here: when it passes the stream is reset
 *   (RST_STREAM CANCEL) and the call rejects with `DeadlineExceededError`, even if the server never answers;
 *   cancelling `ctx.cancel` resets the stream too (the server's handler sees its `ctx.cancel` fire);
 * - a non-OK status is rethrown as the Courier class from `courier-error-bin`, or mapped by status
 *   (`status.ts`) when the server is not Courier; a connection failure is `UnavailableError`, retryable when
 *   the stream cannot have reached the server (refused, above a GOAWAY's last id, never connected) or when
 *   repeating is safe (an `idempotent` operation or a call with an idempotency key); a stream the server
 *   resets without a status gets the status gRPC names for the reset code (`STATUS_OF_RESET`: CANCEL is
 *   `CancelledError`, ENHANCE_YOUR_CALM a retryable RESOURCE_EXHAUSTED, REFUSED_STREAM a retryable
 *   `UnavailableError`, the rest `InternalError`);
 * - streaming calls (see `ClientMethod` in the contract): the promise resolves when the response headers
 *   arrive (the server accepted the call), with an `AsyncIterable` of the response messages (server, bidi)
 *   that applies backpressure (a consumer that stops reading stops the server's producer through HTTP/2 flow
 *   control) and cancels the call when iteration stops early; request messages (client, bidi) are written as
 *   the stream drains.
 */
export interface GrpcClientOptions {
  /** HTTP/2 connections to spread streams over (round robin). Default 2 (see the class doc). */
  readonly sessions?: number;
  /** Largest response message accepted, bytes. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Metadata (headers) sent with every call, e.g. `authorization`. Names must be lower case. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The proto package per service name, when a server was given a non-default `package`. */
  readonly packages?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  /** TLS options for an `https://` target (certificate authorities, client certificates…). */
  readonly tls?: ConnectionOptions;
  /** Flow-control windows and the response header limit of each connection (`H2ClientOptions`). */
  readonly http2?: Omit<H2ClientOptions, 'tls'>;
}

interface ClientMethod {
  readonly operation: OperationDef;
  readonly kind: 'unary' | 'server' | 'client' | 'bidi';
  readonly request: MessageCodec;
  readonly response: MessageCodec;
  readonly inputWhat: string;
  /** The request header block (HPACK) when the context adds nothing. */
  readonly headerBlock: Buffer;
  readonly replayable: boolean;
  readonly send: (input: unknown, ctx: Context) => Promise<unknown>;
  readonly guarded: (input: unknown, ctx: Context) => Promise<unknown>;
}

const QUEUE_HIGH_WATER = 32;
const encoder = new HpackEncoder();

export class GrpcClientTransport implements ClientTransport {
  readonly name = 'grpc';
  private readonly target: URL;
  private readonly connectionCount: number;
  private readonly connections: Array<H2ClientSession | undefined>;
  private next = 0;
  private readonly clock: Clock;
  private readonly maxMessageBytes: number;
  private readonly baseMetadata: readonly string[];
  private readonly packages: Readonly<Record<string, string>>;
  private readonly methods = new Map<OperationDef, ClientMethod>();
  private readonly deadlineGuard;
  private readonly connectionOptions: H2ClientOptions;
  private closed = false;

  /** `target`: `host:port`, or a URL `http://host:port` / `https://host:port`. */
  constructor(target: string, options: GrpcClientOptions = {}) {
    this.target = new URL(target.includes('://') ? target : `http://${target}`);
    if (this.target.protocol !== 'http:' && this.target.protocol !== 'https:') {
      throw new TypeError(`a gRPC target is http:// or https://, not ${this.target.protocol}`);
    }
    this.connectionCount = Math.max(1, options.sessions ?? 2);
    this.connections = new Array<H2ClientSession | undefined>(this.connectionCount).fill(undefined);
    this.clock = options.clock ?? systemClock;
    this.maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
    this.baseMetadata = checkedMetadata(options.metadata ?? {});
    this.packages = options.packages ?? {};
    this.deadlineGuard = timeout({ ms: Infinity, clock: this.clock });
    this.connectionOptions = { ...options.http2, ...(options.tls === undefined ? {} : { tls: options.tls }) };
  }

  /** A typed client of `contract` over these connections. */
  client<C extends ServiceContract>(contract: C, options: ClientOptions = {}): Client<C> {
    registerContract(contract);
    return createClient(contract, this, { clock: this.clock, ...options });
  }

  call(operation: OperationDef, input: unknown, ctx: Context): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('gRPC client'));
    const method = this.methods.get(operation) ?? this.addMethod(operation);
    if (method.kind !== 'unary') return this.openStream(method, input, ctx);
    return ctx.deadline === undefined ? method.send(input, ctx) : method.guarded(input, ctx);
  }

  /** Stop taking calls; resolves when the calls in flight finished and the connections closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.connections.flatMap((c) => (c === undefined ? [] : [c.close()])));
  }

  private addMethod(operation: OperationDef): ClientMethod {
    const pkg = this.packages[operation.service];
    const options = pkg === undefined ? {} : { package: pkg };
    const contract = contracts.get(operation);
    const m =
      contract === undefined
        ? protoMethod(operation, options)
        : protoService(contract, options).methods.find((x) => x.operation === operation);
    if (m === undefined) throw new TypeError(`${operation.service}.${operation.name} is not in its contract`);
    const send = (input: unknown, ctx: Context): Promise<unknown> => this.unary(method, input, ctx);
    const method: ClientMethod = {
      operation,
      kind: m.stream,
      request: messageCodec(m.request),
      response: messageCodec(m.response),
      inputWhat: `input of ${operation.service}.${operation.name}`,
      headerBlock: encoder.encodeStatic([
        ':method',
        'POST',
        ':scheme',
        this.target.protocol === 'https:' ? 'https' : 'http',
        ':path',
        m.path,
        ':authority',
        this.target.host,
        'content-type',
        'application/grpc',
        'te',
        'trailers',
        ...this.baseMetadata,
      ]),
      replayable: operation.idempotent === true,
      send,
      guarded: this.deadlineGuard(send),
    };
    this.methods.set(operation, method);
    return method;
  }

  private connection(): H2ClientSession {
    const i = this.next;
    this.next = i + 1 === this.connectionCount ? 0 : i + 1;
    const current = this.connections[i];
    if (current !== undefined && current.usable) return current;
    const created: H2ClientSession = new H2ClientSession(this.target, this.connectionOptions, () => {
      if (this.connections[i] === created) this.connections[i] = undefined;
    });
    this.connections[i] = created;
    return created;
  }

  /** The request header block: the method's own, plus the context's metadata when it has any. */
  private headerBlock(method: ClientMethod, ctx: Context): Buffer {
    if (!hasContextMetadata(ctx)) return method.headerBlock;
    const extra: string[] = [];
    pushContextMetadata(extra, ctx, this.clock.now());
    const prefix = method.headerBlock;
    const out = Buffer.allocUnsafe(prefix.length + encoder.maxEncodedLength(extra));
    prefix.copy(out, 0);
    return out.subarray(0, encoder.encodeInto(extra, out, prefix.length));
  }

  private unary(method: ClientMethod, input: unknown, ctx: Context): Promise<unknown> {
    let frame: Buffer;
    let block: Buffer;
    try {
      frame = method.request.encodeFrame(input, method.inputWhat);
      block = this.headerBlock(method, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<unknown>((resolve, reject) => {
      const replayable = method.replayable || ctx.idempotencyKey !== undefined;
      const exchange = new UnaryExchange(method.response, this.maxMessageBytes, replayable, resolve, reject);
      let stream: H2Stream;
      try {
        stream = this.connection().open(block, false, exchange);
      } catch (error) {
        reject(connectionError(error, true));
        return;
      }
      exchange.attach(stream, ctx.cancel);
      stream.write(frame, true);
    });
  }

  // ------------------------------------------------------------------------------------------ streams

  private openStream(method: ClientMethod, input: unknown, ctx: Context): Promise<unknown> {
    if (ctx.cancel.isCancelled) return Promise.reject(ctx.cancel.reason);
    if (ctx.deadline !== undefined && ctx.deadline <= this.clock.now()) {
      return Promise.reject(new DeadlineExceededError('deadline passed before the call started'));
    }
    let block: Buffer;
    try {
      block = this.headerBlock(method, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    const replayable = method.replayable || ctx.idempotencyKey !== undefined;
    const call = new StreamExchange(method, this.maxMessageBytes, replayable, this.clock);
    let stream: H2Stream;
    try {
      stream = this.connection().open(block, false, call);
    } catch (error) {
      return Promise.reject(connectionError(error, true));
    }
    call.attach(stream, ctx);
    if (method.kind === 'server') {
      try {
        stream.write(method.request.encodeFrame(input, method.inputWhat), true);
      } catch (error) {
        call.abort(error);
      }
    } else {
      void call.send(input);
    }
    return call.result;
  }
}

/** The client's own metadata, validated once: lower-case names, values HTTP/2 carries unchanged. */
function checkedMetadata(metadata: Readonly<Record<string, string>>): string[] {
  const flat: string[] = [];
  for (const [name, value] of Object.entries(metadata)) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      throw new TypeError(`gRPC metadata name ${JSON.stringify(name)} must be a lower-case token`);
    if (typeof value !== 'string' || !/^[\x20-\x7e\t]*$/.test(value)) {
      throw new TypeError(`gRPC metadata ${name} must be printable ASCII`);
    }
    flat.push(name, value);
  }
  return flat;
}

/** Response headers and trailers → the call's status, message and Courier error. */
interface Outcome {
  httpStatus: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  courierError: string | undefined;
}

const newOutcome = (): Outcome => ({
  httpStatus: 0,
  grpcStatus: undefined,
  grpcMessage: undefined,
  courierError: undefined,
});

function readStatus(out: Outcome, fields: readonly string[]): void {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (name === ':status') out.httpStatus = Number(fields[i + 1]);
    else if (name === 'grpc-status') out.grpcStatus = fields[i + 1];
    else if (name === 'grpc-message') out.grpcMessage = fields[i + 1];
    else if (name === ERROR_TRAILER) out.courierError = fields[i + 1];
  }
}

function outcomeError(out: Outcome): CourierError {
  if (out.grpcStatus === undefined) {
    if (out.httpStatus !== 200 && out.httpStatus !== 0) return errorForBareStatus(out.httpStatus, '');
    return new BadResponseError('gRPC response without grpc-status');
  }
  const status = Number(out.grpcStatus);
  return errorOfStatus(
    Number.isInteger(status) ? status : 2,
    decodeGrpcMessage(out.grpcMessage),
    out.courierError,
  );
}

function connectionError(error: unknown, replayable: boolean): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`gRPC call failed: ${message}${code ? ` (${code})` : ''}`, {
    cause: error,
    retryable: replayable,
  });
}

/**
 * RST_STREAM codes a server sends, as the gRPC status a client reports for them (grpc's PROTOCOL-HTTP2.md,
 * "Errors"): CANCEL is CANCELLED, ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED (retryable: the server is shedding
 * load), INADEQUATE_SECURITY is PERMISSION_DENIED, every other code INTERNAL. REFUSED_STREAM (the server
 * never processed the request) is UNAVAILABLE and always safe to retry; it is handled before this table.
 */
const STATUS_OF_RESET: Readonly<Record<number, number>> = {
  [H2Code.CANCEL]: GrpcStatus.CANCELLED,
  [H2Code.ENHANCE_YOUR_CALM]: GrpcStatus.RESOURCE_EXHAUSTED,
  [H2Code.INADEQUATE_SECURITY]: GrpcStatus.PERMISSION_DENIED,
};

/** The failure of a stream that ended without a status: reset by the server, refused, or the connection went away. */
function abortError(abort: H2Abort, replayable: boolean): CourierError {
  if (abort.code === H2Code.REFUSED_STREAM)
    return new UnavailableError('the server refused the stream', { retryable: true });
  const retryable = abort.refused || replayable;
  if (abort.error !== undefined) return connectionError(abort.error, retryable) as CourierError;
  // The server reset the stream (aborts without an error come only from a received RST_STREAM).
  const status = STATUS_OF_RESET[abort.code] ?? GrpcStatus.INTERNAL;
  return errorOfStatus(status, `the server reset the stream without a status (RST_STREAM code ${abort.code})`, undefined);
}

function badResponse(error: unknown): CourierError {
  if (error instanceof CourierError && error.code === 'MESSAGE_TOO_LARGE') return error;
  return new BadResponseError(
    `malformed gRPC response: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/**
 * One unary call, and the event sink of its stream: collects the response message and the status, settles
 * the promise once, when the stream ends (trailers with END_STREAM), is reset, or the call is cancelled.
 * The response message is decoded straight from its DATA chunk when it arrives whole (the common case); a
 * `FrameReader` is made only for a split message.
 */
class UnaryExchange implements H2StreamEvents {
  private readonly outcome = newOutcome();
  private message: unknown = undefined;
  private messages = 0;
  private failure: unknown = undefined;
  private settled = false;
  private reader: FrameReader | undefined;
  private stream: H2Stream | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly codec: MessageCodec,
    private readonly maxBytes: number,
    private readonly replayable: boolean,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (reason: unknown) => void,
  ) {}

  attach(stream: H2Stream, cancel: CancelToken): void {
    this.stream = stream;
    if (cancel === CancelToken.never || this.settled) return;
    this.unsubscribe = cancel.onCancel((reason) => {
      this.fail(reason);
      stream.reset(H2Code.CANCEL);
    });
  }

  onHeaders(fields: string[], endStream: boolean): void {
    readStatus(this.outcome, fields);
    if (endStream) this.finish();
  }

  onData(chunk: Buffer, endStream: boolean): void {
    if (this.failure === undefined && !this.settled) this.take(chunk);
    if (endStream) this.finish();
  }

  onAbort(abort: H2Abort): void {
    this.fail(this.failure ?? abortError(abort, this.replayable));
  }

  private take(chunk: Buffer): void {
    try {
      if (
        this.reader === undefined &&
        this.messages === 0 &&
        chunk.length >= FRAME_HEADER_BYTES &&
        chunk[0] === 0
      ) {
        const length = chunk.readUInt32BE(1);
        if (length + FRAME_HEADER_BYTES === chunk.length && length <= this.maxBytes) {
          this.messages = 1;
          this.message = this.codec.decode(chunk, FRAME_HEADER_BYTES, chunk.length);
          return;
        }
      }
      (this.reader ??= new FrameReader(this.maxBytes, (bytes) => {
        if (++this.messages === 1) this.message = this.codec.decode(bytes);
      })).push(chunk);
    } catch (error) {
      this.failure = badResponse(error);
      this.stream?.reset(H2Code.CANCEL);
      this.fail(this.failure);
    }
  }

  private finish(): void {
    if (this.settled) return;
    const out = this.outcome;
    if (this.failure !== undefined) return this.fail(this.failure);
    if (out.grpcStatus === '0') {
      if (this.messages !== 1 || (this.reader !== undefined && this.reader.incomplete)) {
        return this.fail(new BadResponseError(`unary response carried ${this.messages} messages`));
      }
      this.settled = true;
      this.unsubscribe?.();
      this.resolve(this.message);
      return;
    }
    this.fail(outcomeError(out));
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.unsubscribe?.();
    this.reject(error);
  }
}

/**
 * One streaming call on the client, and its stream's event sink. `result` settles when the call is
 * established (server, bidi: with the response message queue) or, for client streaming, with the one
 * response message.
 */
class StreamExchange implements H2StreamEvents {
  readonly result: Promise<unknown>;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (reason: unknown) => void;
  private established = false;
  private over = false;
  private readonly outcome = newOutcome();
  private readonly queue: MessageQueue<unknown> | undefined;
  private readonly reader: FrameReader;
  private single: unknown = undefined;
  private messages = 0;
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  private stream: H2Stream | undefined;
  private drained: (() => void) | undefined;

  constructor(
    private readonly method: ClientMethod,
    maxBytes: number,
    private readonly replayable: boolean,
    private readonly clock: Clock,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    const streamsOut = method.kind === 'server' || method.kind === 'bidi';
    this.queue = streamsOut
      ? new MessageQueue<unknown>(
          QUEUE_HIGH_WATER,
          () => this.stream?.pause(),
          () => this.stream?.resume(),
          () => this.abort(new CourierError('CANCELLED', 'the caller stopped reading the stream')),
        )
      : undefined;
    this.reader = new FrameReader(maxBytes, (bytes) => {
      const value = method.response.decode(bytes);
      if (this.queue !== undefined) this.queue.push(value);
      else if (++this.messages === 1) this.single = value;
    });
  }

  attach(stream: H2Stream, ctx: Context): void {
    this.stream = stream;
    if (ctx.deadline !== undefined) {
      const ms = Math.max(0, ctx.deadline - this.clock.now());
      this.timer = this.clock.setTimeout(
        () => this.abort(new DeadlineExceededError('deadline exceeded before the stream completed')),
        Math.min(ms, 2 ** 31 - 1),
      );
    }
    this.unsubscribe =
      ctx.cancel === CancelToken.never ? undefined : ctx.cancel.onCancel((reason) => this.abort(reason));
  }

  onHeaders(fields: string[], endStream: boolean): void {
    const first = this.outcome.httpStatus === 0;
    readStatus(this.outcome, fields);
    if (
      first &&
      !endStream &&
      this.outcome.grpcStatus === undefined &&
      this.outcome.httpStatus === 200 &&
      this.queue !== undefined
    ) {
      this.established = true;
      this.resolveResult(this.queue);
    }
    if (endStream) this.finish();
  }

  onData(chunk: Buffer, endStream: boolean): void {
    if (!this.over) {
      try {
        this.reader.push(chunk);
      } catch (error) {
        this.abort(badResponse(error));
      }
    }
    if (endStream) this.finish();
  }

  onAbort(abort: H2Abort): void {
    // No response headers yet does not mean the server did nothing: a handler may have run (and done its
    // work) before the stream died. Only `abort.refused` (never reached or never processed) or an operation
    // safe to repeat makes the failure retryable.
    this.end(abortError(abort, this.replayable));
  }

  onDrain(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }

  /** Write the request messages (client, bidi), as fast as the stream drains, then half-close. */
  async send(inputs: unknown): Promise<void> {
    const stream = this.stream!;
    try {
      const iterable = inputs as AsyncIterable<unknown> | Iterable<unknown>;
      if (
        iterable === null ||
        typeof iterable !== 'object' ||
        (!(Symbol.asyncIterator in iterable) && !(Symbol.iterator in iterable))
      ) {
        throw new TypeError(
          `${this.method.inputWhat}: a '${this.method.kind}' streaming call takes an iterable of messages`,
        );
      }
      for await (const input of iterable) {
        if (this.over || stream.closed) return;
        if (!stream.write(this.method.request.encodeFrame(input, this.method.inputWhat), false)) {
          if (this.over || stream.closed) return;
          await new Promise<void>((resolve) => (this.drained = resolve));
        }
      }
      if (!this.over && !stream.closed) stream.end();
    } catch (error) {
      this.abort(error);
    }
  }

  /** Stop the call locally with `error`: reset the stream and report the error to whoever waits. */
  abort(error: unknown): void {
    if (this.over) return;
    this.stream?.reset(H2Code.CANCEL);
    this.end(error);
  }

  private finish(): void {
    if (this.over) return;
    const out = this.outcome;
    if (out.grpcStatus === '0') {
      if (this.queue === undefined) {
        if (this.messages !== 1 || this.reader.incomplete)
          return this.end(new BadResponseError(`response carried ${this.messages} messages`));
        this.done();
        this.resolveResult(this.single);
        return;
      }
      this.done();
      if (!this.established) {
        this.established = true;
        this.resolveResult(this.queue); // a trailers-only OK: an empty stream
      }
      this.queue.end();
      return;
    }
    this.end(outcomeError(out));
  }

  private done(): void {
    this.over = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.unsubscribe?.();
    this.onDrain(); // a sender waiting for room stops
  }

  private end(error: unknown): void {
    if (this.over) return;
    this.done();
    if (!this.established) {
      this.rejectResult(error);
      return;
    }
    this.queue?.fail(error);
  }
}

/** The contract of each operation a typed client was made for (see `protoMethod` for calls without one). */
const contracts = new WeakMap<OperationDef, ServiceContract>();

/** Tell gRPC clients which contract these operations belong to (`client()` does it). */
export function registerContract(contract: ServiceContract): void {
  for (const op of Object.values(contract.operations)) contracts.set(op, contract);
}

/** A gRPC client transport for the server at `target` (`host:port`). */
export function grpc(target: string, options: GrpcClientOptions = {}): GrpcClientTransport {
  return new GrpcClientTransport(target, options);
}
