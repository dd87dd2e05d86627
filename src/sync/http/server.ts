import { type IncomingMessage, type ServerOptions, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { type FastifyInstance, fastify } from 'fastify';
import type { Context } from '../../core/context.js';
import type { Implementation, ServiceContract } from '../../core/contract.js';
import { CourierError, MessageTooLargeError } from '../../core/errors.js';
import { errorTypeOf, toWireError } from '../error-registry.js';
import { BadRequestError, HeadersTooLargeError, NotFoundError, RequestTimeoutError, UnsupportedMediaTypeError } from '../errors.js';
import { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from '../served-operation.js';
import type { ServeOptions, ServerTransport } from '../transport.js';
import { readJsonBody } from './body-reader.js';
import { type EndpointSettings, RouteEndpoint, writeError } from './endpoint.js';
import { IdleSweeper } from './idle-sweeper.js';
import { type OpenApiDocument, type OpenApiInfo, openApiDocument } from './openapi.js';
import { PROBLEM_CONTENT_TYPE, problemJson } from './problem.js';
import { type HttpRoute, httpRoute } from './routes.js';
import { DEFAULT_MAX_JSON_DEPTH } from './safe-json.js';

/**
 * Courier's HTTP server: serves contracts as conventional REST on fastify 5 (see `routes.ts` for the
 * mapping), with the shared server pipeline (`served-operation.ts`), errors as RFC 9457 problem+json
 * carrying Courier's codes, and an OpenAPI 3.1 document at `/openapi.json`.
 *
 * Fastify owns the server: listening, closing, your own plugins and routes, 404s, the OpenAPI route and
 * every Courier route are registered with it. The fast path (on by default) answers requests for Courier
 * routes without path parameters before fastify routes them: those requests skip fastify's request/reply
 * objects, hook runs and response bookkeeping, which on small requests cost more than all of Courier's own
 * work (measured in bench/suites/http.ts). Routes with parameters, and every route when `fastPath: false`,
 * go through fastify's router and hooks (onRequest, preHandler, onResponse; the reply is hijacked, so
 * onSend hooks do not run). Both ways share `RouteEndpoint`, so they answer identically.
 *
 * Hardening, each answered with a typed 4xx problem and none of them stopping the server:
 * body over `maxBodyBytes` → 413 before reading (Content-Length) or as soon as the count passes it
 * (chunked), and the connection is closed rather than drained; compressed bodies inflated with a cap → 413;
 * JSON nested deeper than `maxJsonDepth`, `__proto__`/`constructor`/`prototype` keys, invalid UTF-8,
 * malformed JSON → 400; a content type other than JSON or an unknown content coding → 415; headers over
 * `maxHeaderBytes` → 431; headers not complete within `headersTimeoutMs` or a request not complete within
 * `requestTimeoutMs` (slowloris) → 408 and the connection closed.
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
  /**
   * Idle keep-alive connections are closed after between this and twice this, ms (one sweep per period;
   * see `idle-sweeper.ts`); 0 keeps them open. Default 72 s (above common proxies' 60 s, so that they close
   * first). No `Keep-Alive: timeout` hint is sent: clients keep idle sockets for less than that anyway
   * (undici 4 s).
   */
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
  /**
   * Answer parameterless Courier routes before fastify routes them (default true): skips fastify's
   * per-request objects and hook runs. Set false when fastify hooks (auth, metrics) must see Courier routes.
   */
  readonly fastPath?: boolean;
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
  private readonly settings: EndpointSettings;
  private readonly routes: HttpRoute[] = [];
  /**
   * Parameterless routes by method, then path, answered before fastify's router (see the module doc). Two
   * lookups rather than one by `METHOD path`: the method string comes interned from the parser and the path
   * hashes once, where a concatenated key cost a flatten and a hash per request (~70 ns, measured).
   */
  private readonly fastRoutes = new Map<string, Map<string, RouteEndpoint>>();
  private readonly fastPath: boolean;
  private readonly sweeper: IdleSweeper;
  private readonly info: OpenApiInfo;
  private address: string | undefined;
  private closing = false;
  private document: OpenApiDocument | undefined;

  constructor(options: HttpServerOptions = {}) {
    this.runtime = new ServerRuntime(options);
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.info = options.info ?? { title: 'Courier services', version: '1.0.0' };
    this.fastPath = options.fastPath ?? true;
    const limits = options.limits ?? {};
    const maxBodyBytes = limits.maxBodyBytes ?? 1024 * 1024;
    this.settings = {
      clock: this.runtime.clock,
      body: {
        maxBodyBytes,
        maxDecodedBytes: limits.maxDecodedBodyBytes ?? maxBodyBytes,
        maxJsonDepth: limits.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
      },
      exposeErrors: this.runtime.exposeErrors,
      onError: options.onError ?? (() => {}),
    };
    const nodeOptions: ServerOptions = {
      maxHeaderSize: limits.maxHeaderBytes ?? 16 * 1024,
      headersTimeout: limits.headersTimeoutMs ?? 10_000,
      requestTimeout: limits.requestTimeoutMs ?? 30_000,
      // Idle keep-alive connections are closed by the sweeper, not by a timer per connection (see idle-sweeper.ts).
      keepAliveTimeout: 0,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs ?? 1000,
    };
    const sweeper = new IdleSweeper(limits.keepAliveTimeoutMs ?? 72_000);
    this.sweeper = sweeper;
    this.app = fastify({
      logger: false,
      exposeHeadRoutes: false,
      return503OnClosing: true,
      bodyLimit: maxBodyBytes,
      clientErrorHandler: (error, socket) => answerClientError(error, socket),
      serverFactory: (fastifyHandler) => {
        const server = createServer(nodeOptions, (req, res) => {
          sweeper.onRequest(req.socket, res);
          if (!this.fastPath || !this.answerFast(req, res)) fastifyHandler(req, res);
        });
        server.keepAliveTimeout = 0;
        sweeper.attach(server);
        return server;
      },
    });
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', (request, payload, done) => {
      readJsonBody(payload, request.headers, this.settings.body, done);
    });
    this.app.setErrorHandler((error, _request, reply) => {
      reply.hijack();
      writeError(reply.raw, fromFastifyError(error), this.settings, undefined);
    });
    this.app.setNotFoundHandler((request, reply) => {
      reply.hijack();
      const path = request.url.split('?')[0];
      writeError(reply.raw, new NotFoundError(`no route ${request.method} ${path}`), this.settings, undefined);
    });
    this.app.addHook('preClose', async () => {
      this.closing = true;
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
      const endpoint = new RouteEndpoint(route, served, this.settings);
      this.app.route({
        method: route.method,
        url: route.url,
        handler: (request, reply) => {
          reply.hijack();
          endpoint.handleRouted(
            request.raw,
            reply.raw,
            request.body,
            request.query as Record<string, unknown>,
            request.params as Record<string, unknown>,
          );
        },
      });
      if (route.pathParams.length === 0) {
        let byPath = this.fastRoutes.get(route.method);
        if (byPath === undefined) this.fastRoutes.set(route.method, (byPath = new Map()));
        byPath.set(route.url, endpoint);
      }
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

  /**
   * Stop taking calls, let the ones in flight be answered, then release the port. A keep-alive connection
   * that becomes idle only after closing began (its call was still running) would otherwise hold `close()`
   * open until its keep-alive timeout (72 s by default): while closing, idle connections are closed as they
   * appear.
   */
  async close(): Promise<void> {
    this.closing = true;
    const sweep = setInterval(() => this.app.server.closeIdleConnections(), 20);
    try {
      await this.app.close();
    } finally {
      clearInterval(sweep);
      this.sweeper.stop();
    }
  }

  /**
   * The fast path: a request for a parameterless Courier route is answered here, before fastify builds its
   * request and reply objects, runs its hooks and routes it. Everything else (routes with path parameters,
   * `/openapi.json`, your own fastify routes, 404s) goes to fastify. Returns false to pass the request on.
   */
  private answerFast(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const endpoint = this.fastRoutes.get(req.method!)?.get(q < 0 ? url : url.slice(0, q));
    if (endpoint === undefined || this.closing) return false;
    endpoint.handleRaw(req, res, q < 0 ? undefined : url.slice(q + 1));
    return true;
  }
}

export function httpServer(options: HttpServerOptions = {}): HttpServer {
  return new HttpServer(options);
}

/** Errors fastify raises itself (before our handler runs), as Courier errors. */
function fromFastifyError(error: unknown): unknown {
  if (error instanceof CourierError || !(error instanceof Error)) return error;
  const { code, statusCode: status } = error as Error & { code?: string; statusCode?: number };
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
