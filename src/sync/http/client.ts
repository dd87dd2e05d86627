import { Pool } from 'undici';
import { CancelToken } from '../../core/cancel.js';
import { type Clock, systemClock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { Client, OperationDef, ServiceContract } from '../../core/contract.js';
import { ClosedError, CourierError } from '../../core/errors.js';
import { timeout } from '../../policies/timeout.js';
import { errorForBareStatus } from '../error-registry.js';
import { BadResponseError, UnavailableError } from '../errors.js';
import { type ClientOptions, type ClientTransport, createClient } from '../transport.js';
import { pushContextHeaders } from './headers.js';
import { errorFromProblem, retryAfterMs } from './problem.js';
import { type HttpRoute, httpRoute, requestPath } from './routes.js';

/**
 * Courier's HTTP client transport, on an undici `Pool` (keep-alive connections; `fetch` measured ~5× slower
 * at 64 concurrent calls on these machines).
 *
 * Why `Pool.dispatch` with our own response handler rather than `Pool.request`: `request` wraps every
 * response body in a Readable stream and its consumers; Courier's bodies are small JSON documents, so the
 * handler keeps the chunks and parses once at the end, with no stream, no header object (raw header
 * buffers are looked at only for an error's `Retry-After`) and one promise per call.
 *
 * Semantics:
 * - the route (method, path, query vs body) is derived from the contract exactly as the server derives it;
 * - the context travels in headers (`headers.ts`); a call whose context has a deadline is also guarded
 *   here: when the deadline passes the request is aborted and the call rejects with
 *   `DeadlineExceededError`, even if the server never answers; cancelling `ctx.cancel` aborts the request
 *   (the server sees the disconnect and cancels the handler);
 * - a problem+json answer is rethrown as the registered Courier class; an answer without one is mapped by
 *   status; a connection failure is `UnavailableError`, retryable when the request cannot have had an
 *   effect (refused connection) or is safe to repeat (GET/PUT/DELETE, an `idempotent` operation, or a call
 *   with an idempotency key);
 * - pipelining (when `pipelining` > 1) is used only for the same safe requests: undici holds back
 *   pipelining behind a request that is not marked idempotent.
 */
export interface HttpClientOptions {
  /** Connections in the pool. Default 64. */
  readonly connections?: number;
  /** Requests in flight per connection for safe requests. Default 1 (no pipelining). */
  readonly pipelining?: number;
  /** How long an idle connection is kept, ms. Default 30 s (capped by the server's keep-alive hint). */
  readonly keepAliveTimeoutMs?: number;
  /** Route prefix per service name, when a server was given a non-default `prefix`. */
  readonly prefixes?: Readonly<Record<string, string>>;
  /** Largest response body accepted, bytes. Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** Headers sent with every request (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  /** An existing undici Pool to send through (then `connections`/`pipelining`/`keepAliveTimeoutMs` are ignored). */
  readonly pool?: Pool;
}

interface ClientRoute {
  readonly route: HttpRoute;
  /** Sends one request for this route. */
  readonly send: (input: unknown, ctx: Context) => Promise<unknown>;
  /** The same, under the deadline guard. */
  readonly guarded: (input: unknown, ctx: Context) => Promise<unknown>;
}

const JSON_BODY_HEADERS = ['content-type', 'application/json'] as const;

export class HttpClientTransport implements ClientTransport {
  readonly name = 'http';
  readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly clock: Clock;
  private readonly prefixes: Readonly<Record<string, string>>;
  private readonly maxResponseBytes: number;
  private readonly baseHeaders: readonly string[];
  private readonly routes = new Map<OperationDef, ClientRoute>();
  private readonly deadlineGuard;
  private closed = false;

  constructor(url: string, options: HttpClientOptions = {}) {
    this.ownsPool = options.pool === undefined;
    this.pool =
      options.pool ??
      new Pool(url, {
        connections: options.connections ?? 64,
        pipelining: options.pipelining ?? 1,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
      });
    this.clock = options.clock ?? systemClock;
    this.prefixes = options.prefixes ?? {};
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.baseHeaders = Object.entries(options.headers ?? {}).flat();
    this.deadlineGuard = timeout({ ms: Infinity, clock: this.clock });
  }

  /** A typed client of `contract` over this connection pool. */
  client<C extends ServiceContract>(contract: C, options: ClientOptions = {}): Client<C> {
    return createClient(contract, this, { clock: this.clock, ...options });
  }

  call(operation: OperationDef, input: unknown, ctx: Context): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('HTTP client'));
    const route = this.routes.get(operation) ?? this.addRoute(operation);
    return ctx.deadline === undefined ? route.send(input, ctx) : route.guarded(input, ctx);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.close();
  }

  private addRoute(operation: OperationDef): ClientRoute {
    const route = httpRoute(operation, this.prefixes[operation.service] ?? `/${operation.service}`);
    const send = (input: unknown, ctx: Context): Promise<unknown> => this.send(route, input, ctx);
    const entry: ClientRoute = { route, send, guarded: this.deadlineGuard(send) };
    this.routes.set(operation, entry);
    return entry;
  }

  private send(route: HttpRoute, input: unknown, ctx: Context): Promise<unknown> {
    let path: string;
    let body: string | undefined;
    const headers = this.baseHeaders.length === 0 ? [] : [...this.baseHeaders];
    try {
      path = requestPath(route, input);
      body = route.query === undefined && input !== undefined ? JSON.stringify(input) : undefined;
      if (body !== undefined) headers.push(...JSON_BODY_HEADERS);
      pushContextHeaders(headers, ctx, this.clock.now());
    } catch (error) {
      return Promise.reject(error);
    }
    const replayable = route.safe || ctx.idempotencyKey !== undefined;
    return new Promise<unknown>((resolve, reject) => {
      const exchange = new Exchange(resolve, reject, ctx.cancel, replayable, this.maxResponseBytes);
      this.pool.dispatch(
        { path, method: route.method, headers, body: body ?? null, idempotent: replayable, blocking: !replayable },
        exchange,
      );
    });
  }
}

/** One request/response, as undici's dispatch handler: collects the body and settles the call's promise. */
class Exchange {
  private status = 0;
  private retryAfter: string | undefined;
  private first: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private size = 0;
  private settled = false;
  private unsubscribe: (() => void) | undefined;
  private abort: ((reason?: Error) => void) | undefined;
  /** Set when the caller cancelled before undici handed us the request's abort function. */
  private cancelledBeforeConnect = false;
  private cancelReason: unknown;

  constructor(
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (reason: unknown) => void,
    cancel: CancelToken,
    private readonly replayable: boolean,
    private readonly maxBytes: number,
  ) {
    // Listen from the start, not from onConnect: a request queued behind busy connections must still
    // reject the moment the caller cancels (undici calls onConnect only once a connection is free).
    if (cancel !== CancelToken.never) this.unsubscribe = cancel.onCancel((reason) => this.cancelled(reason));
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abort = abort;
    // Cancelled while queued: the caller has its answer; make sure the request is never sent.
    if (this.cancelledBeforeConnect) abort(this.cancelReason as Error);
  }

  private cancelled(reason: unknown): void {
    if (this.abort !== undefined) {
      this.abort(reason as Error); // undici reports it through onError
      return;
    }
    this.cancelledBeforeConnect = true;
    this.cancelReason = reason;
    if (this.settled) return;
    this.settled = true;
    this.reject(reason);
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    this.status = status;
    if (status >= 400) {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        if (rawHeaders[i]!.length === 11 && rawHeaders[i]!.toString('latin1').toLowerCase() === 'retry-after') {
          this.retryAfter = rawHeaders[i + 1]!.toString('latin1');
        }
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.abort?.(new BadResponseError(`response larger than ${this.maxBytes} bytes`));
      return false;
    }
    if (this.first === undefined) this.first = chunk;
    else (this.chunks ??= [this.first]).push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    this.unsubscribe?.();
    const text =
      this.chunks !== undefined
        ? Buffer.concat(this.chunks, this.size).toString('utf8')
        : this.first === undefined
          ? ''
          : this.first.toString('utf8');
    const status = this.status;
    if (status >= 200 && status < 300) {
      if (text === '') return this.resolve(undefined);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return this.reject(new BadResponseError(`response of status ${status} is not JSON`));
      }
      return this.resolve(value);
    }
    this.reject(errorOfResponse(status, text, retryAfterMs(this.retryAfter)));
  }

  onError(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.unsubscribe?.();
    this.reject(error instanceof CourierError ? error : transportError(error, this.replayable));
  }

  onUpgrade(): void {
    this.onError(new BadResponseError('unexpected protocol upgrade'));
  }
}

function errorOfResponse(status: number, text: string, retryAfter: number | undefined): CourierError {
  try {
    const error = errorFromProblem(JSON.parse(text), retryAfter);
    if (error !== undefined) return error;
  } catch {
    // not JSON: fall through to the status
  }
  return errorForBareStatus(status, text);
}

/** A connection-level failure. Retryable when nothing can have happened, or repeating is harmless. */
function transportError(error: Error, replayable: boolean): UnavailableError {
  const code = (error as NodeJS.ErrnoException).code;
  const notSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT';
  return new UnavailableError(`HTTP request failed: ${error.message}${code ? ` (${code})` : ''}`, {
    cause: error,
    retryable: notSent || replayable,
  });
}

/** An HTTP client transport for the Courier server at `url` (e.g. `http://127.0.0.1:3001`). */
export function http(url: string, options: HttpClientOptions = {}): HttpClientTransport {
  return new HttpClientTransport(url, options);
}
