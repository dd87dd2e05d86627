import type { Socket } from 'node:net';
import { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, fastify } from 'fastify';
import { CancelSource } from '../../core/cancel.js';
import type { Context } from '../../core/context.js';
import type { Implementation, ServiceContract } from '../../core/contract.js';
import { CancelledError, CourierError, MessageTooLargeError } from '../../core/errors.js';
import { Replay, wasReplayed } from '../../reliability/idempotency/idempotency.js';
import { type WireError, errorTypeOf, toWireError } from '../error-registry.js';
import { BadRequestError, HeadersTooLargeError, NotFoundError, RequestTimeoutError, UnsupportedMediaTypeError } from '../errors.js';
import { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from '../served-operation.js';
import type { ServeOptions, ServerTransport } from '../transport.js';
import { type BodyLimits, readJsonBody } from './body-reader.js';
import { HEADER, contextFromHeaders } from './headers.js';
import { type OpenApiDocument, type OpenApiInfo, openApiDocument } from './openapi.js';
import { PROBLEM_CONTENT_TYPE, problemJson } from './problem.js';
import { type HttpRoute, httpRoute, withPathParams } from './routes.js';
import { DEFAULT_MAX_JSON_DEPTH } from './safe-json.js';

/**
 * Courier's HTTP server: serves contracts as conventional REST on fastify 5 (see `routes.ts` for the
 * mapping), with the shared server pipeline (`served-operation.ts`), errors as RFC 9457 problem+json
 * carrying Courier's codes, and an OpenAPI 3.1 document at `/openapi.json`.
 *
 * Hardening, each answered with a typed 4xx problem and none of them stopping the server:
 * body over `maxBodyBytes` → 413 before reading (Content-Length) or as soon as the count passes it
 * (chunked), and the connection is closed rather than drained; compressed bodies inflated with a cap → 413;
 * JSON nested deeper than `maxJsonDepth`, `__proto__`/`constructor`/`prototype` keys, invalid UTF-8,
 * malformed JSON → 400; a content type other than JSON or an unknown content coding → 415; headers over
 * `maxHeaderBytes` → 431; headers not complete within `headersTimeoutMs` or a request not complete within
 * `requestTimeoutMs` (slowloris) → 408 and the connection closed.
 *
 * Per request the route handler rebuilds the context from headers (deadline from `courier-timeout-ms`,
 * trace, correlation, idempotency key), links its cancel token to the response's `close` (a client that
 * disconnects cancels the handler's `ctx.cancel` with `CancelledError`), runs the operation and writes the
 * output with `JSON.stringify` (no per-route serialiser guessing, no hook chain beyond fastify's own).
 */
export interface HttpLimits {
  /** Largest request body on the wire, bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest body after decompression, bytes. Default `maxBodyBytes`. */
  readonly maxDecodedBodyBytes?: number;
  /** Deepest JSON nesting accepted. Default 64. */
  readonly maxJsonDepth?: number;
  /** Largest request head (request line + headers), bytes. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Time a client gets to send the complete headers, ms. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time a client gets to send the complete request, ms. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, ms. Default 72 s (above common proxies' 60 s). */
  readonly keepAliveTimeoutMs?: number;
  /** How often Node checks header/request timeouts, ms. Default 1 s. */
  readonly timeoutCheckIntervalMs?: number;
}

export interface HttpServerOptions extends ServerRuntimeOptions {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  readonly limits?: HttpLimits;
  /** Where the OpenAPI document is served; `false` to not serve it. Default `/openapi.json`. */
  readonly openapiPath?: string | false;
  readonly info?: OpenApiInfo;
  /** Told about every 5xx answer and every non-Courier error a handler raised (for logs). */
  readonly onError?: (error: unknown, operation: string | undefined) => void;
}

export interface HttpServeOptions extends ServeOptions {
  /** Path prefix of the service's routes. Default `/<service name>`. */
  readonly prefix?: string;
}

export class HttpServer implements ServerTransport<HttpServeOptions> {
  readonly name = 'http';
  /** The fastify instance, for adding plugins or routes of your own before `listen`. */
  readonly app: FastifyInstance;
  private readonly runtime: ServerRuntime;
  private readonly host: string;
  private readonly port: number;
  private readonly body: BodyLimits;
  private readonly routes: HttpRoute[] = [];
  private readonly info: OpenApiInfo;
  private readonly onError: (error: unknown, operation: string | undefined) => void;
  private address: string | undefined;
  private document: OpenApiDocument | undefined;

  constructor(options: HttpServerOptions = {}) {
    this.runtime = new ServerRuntime(options);
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.info = options.info ?? { title: 'Courier services', version: '1.0.0' };
    this.onError = options.onError ?? (() => {});
    const limits = options.limits ?? {};
    const maxBodyBytes = limits.maxBodyBytes ?? 1024 * 1024;
    this.body = {
      maxBodyBytes,
      maxDecodedBytes: limits.maxDecodedBodyBytes ?? maxBodyBytes,
      maxJsonDepth: limits.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
    };
    this.app = fastify({
      logger: false,
      exposeHeadRoutes: false,
      return503OnClosing: true,
      bodyLimit: maxBodyBytes,
      requestTimeout: limits.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? 72_000,
      http: {
        maxHeaderSize: limits.maxHeaderBytes ?? 16 * 1024,
        headersTimeout: limits.headersTimeoutMs ?? 10_000,
        requestTimeout: limits.requestTimeoutMs ?? 30_000,
        connectionsCheckingInterval: limits.timeoutCheckIntervalMs ?? 1000,
      } as object,
      clientErrorHandler: (error, socket) => answerClientError(error, socket),
    });
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', (request, payload, done) => {
      readJsonBody(payload, request.headers, this.body, done);
    });
    this.app.setErrorHandler((error, request, reply) => this.sendError(reply, fromFastifyError(error), undefined));
    this.app.setNotFoundHandler((request, reply) => {
      this.sendError(reply, new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`), undefined);
    });
    const openapiPath = options.openapiPath ?? '/openapi.json';
    if (openapiPath !== false) {
      this.app.get(openapiPath, (_request, reply) => {
        reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(this.openapi()));
      });
    }
  }

  /** `http://host:port` once listening. */
  get url(): string {
    if (this.address === undefined) throw new Error('the server is not listening');
    return this.address;
  }

  serve<C extends ServiceContract>(contract: C, implementation: Implementation<C>, options: HttpServeOptions = {}): void {
    if (this.address !== undefined) throw new Error('serve() must be called before listen()');
    const impl = implementation as unknown as Record<string, (input: any, ctx: Context) => Promise<unknown>>;
    for (const [name, op] of Object.entries(contract.operations)) {
      const route = httpRoute(op, options.prefix ?? `/${contract.name}`);
      const served = new ServedOperation(op, impl[name]!, options.middleware ?? [], this.runtime);
      this.app.route({ method: route.method, url: route.url, handler: this.routeHandler(route, served) });
      this.routes.push(route);
    }
    this.document = undefined;
  }

  /** Start listening; resolves with the base URL. */
  async listen(): Promise<string> {
    await this.app.listen({ host: this.host, port: this.port });
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.address = `http://${host}:${address.port}`;
    return this.address;
  }

  /** The OpenAPI 3.1 document of everything served. */
  openapi(): OpenApiDocument {
    return (this.document ??= openApiDocument(this.routes, this.info));
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  private routeHandler(route: HttpRoute, served: ServedOperation) {
    const clock = this.runtime.clock;
    const fullName = served.fullName;
    const query = route.query;
    return (request: FastifyRequest, reply: FastifyReply): void => {
      const res = reply.raw;
      const cancel = new CancelSource();
      let ctx: Context;
      try {
        ctx = contextFromHeaders(request.headers, clock.now(), cancel, fullName);
      } catch (error) {
        this.sendError(reply, error, fullName);
        return;
      }
      let input: unknown = query === undefined ? request.body : query.decode(request.query as Record<string, unknown>);
      if (route.pathParams.length > 0) input = withPathParams(route, input, request.params as Record<string, unknown>);
      res.on('close', () => {
        if (!res.writableFinished) cancel.cancel(new CancelledError('client disconnected'));
      });
      served.run(input, ctx).then(
        (output) => this.sendOutput(reply, output),
        (error: unknown) => this.sendError(reply, error, fullName),
      );
    };
  }

  private sendOutput(reply: FastifyReply, output: unknown): void {
    if (reply.raw.destroyed) return;
    if (output instanceof Replay) {
      reply.header(HEADER.replayed, 'true').header('content-type', 'application/json; charset=utf-8').send(output.json);
    } else if (output === undefined) {
      reply.code(204).send();
    } else {
      reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(output));
    }
  }

  private sendError(reply: FastifyReply, error: unknown, operation: string | undefined): void {
    const wire = toWireError(error, { exposeErrors: this.runtime.exposeErrors });
    const status = statusOf(wire);
    if (status >= 500 || !(error instanceof CourierError)) this.onError(error, operation);
    if (reply.sent || reply.raw.destroyed) return;
    reply.code(status).header('content-type', PROBLEM_CONTENT_TYPE);
    if (wire.retryAfterMs !== undefined && (status === 429 || status === 503 || status === 409)) {
      reply.header('retry-after', String(Math.ceil(wire.retryAfterMs / 1000)));
    }
    // A refused body was not read: close the connection instead of draining what the client still sends.
    if (error instanceof MessageTooLargeError) reply.header('connection', 'close');
    if (wasReplayed(error)) reply.header(HEADER.replayed, 'true');
    reply.send(problemJson(wire, status));
  }
}

export function httpServer(options: HttpServerOptions = {}): HttpServer {
  return new HttpServer(options);
}

function statusOf(wire: WireError): number {
  return errorTypeOf(wire.code)?.status ?? 500;
}

/** Errors fastify raises itself (before our handler runs), as Courier errors. */
function fromFastifyError(error: unknown): unknown {
  if (error instanceof CourierError || !(error instanceof Error)) return error;
  const code = (error as FastifyError).code;
  const status = (error as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new UnsupportedMediaTypeError(error.message);
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new MessageTooLargeError(0, 0);
  if (status !== undefined && status >= 400 && status < 500) return new BadRequestError('malformed-body', error.message);
  return error;
}

/**
 * Answers for what Node's HTTP parser refuses before fastify sees a request: oversized headers (431),
 * slow headers or body (408), anything unparsable (400). Written straight to the socket, which is then closed.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new HeadersTooLargeError()
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RequestTimeoutError()
        : new BadRequestError('malformed-body', 'malformed HTTP request');
  const status = errorTypeOf(problem.code)?.status ?? 400;
  const body = problemJson(toWireError(problem), status);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  return status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
}
