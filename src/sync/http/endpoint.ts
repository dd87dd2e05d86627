import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CancelSource } from '../../core/cancel.js';
import type { Clock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import { CancelledError, CourierError, MessageTooLargeError } from '../../core/errors.js';
import { Replay, wasReplayed } from '../../reliability/idempotency/idempotency.js';
import { errorTypeOf, toWireError } from '../error-registry.js';
import type { ServedOperation } from '../served-operation.js';
import { InternalError } from '../errors.js';
import { type BodyLimits, readJsonBody } from './body-reader.js';
import { HEADER, contextFromHeaders } from './headers.js';
import { PROBLEM_CONTENT_TYPE, problemJson } from './problem.js';
import { decodeQueryString } from './query-codec.js';
import { type HttpRoute, withPathParams } from './routes.js';

/**
 * One served route on raw Node request/response objects: decode the input, rebuild the context, run the
 * operation, write the answer. Both ways into a route use it: the fast path (`server.ts` matches a
 * parameterless route before fastify sees the request) and fastify's router (the route handler hijacks the
 * reply and passes the raw objects), so both behave identically.
 *
 * Per request: one cancel source (cancelled with `CancelledError` when the connection closes before the call
 * finished: the client went away; one `close` listener per connection, see `track`), one context, one
 * promise reaction pair. Answers are written with `writeHead(status, [name, value, …])` + `end(body)`: one
 * socket write, no header object.
 */
export interface EndpointSettings {
  readonly clock: Clock;
  readonly body: BodyLimits;
  readonly exposeErrors: boolean;
  readonly onError: (error: unknown, operation: string | undefined) => void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export class RouteEndpoint {
  constructor(
    readonly route: HttpRoute,
    private readonly served: ServedOperation,
    private readonly settings: EndpointSettings,
  ) {}

  /** Fast path: the request matched this route's exact path; `queryString` is what follows `?`, if anything. */
  handleRaw(req: IncomingMessage, res: ServerResponse, queryString: string | undefined): void {
    if (this.route.query !== undefined) {
      this.start(req, res, decodeQueryString(this.route.query, queryString ?? ''));
      return;
    }
    if (!hasBody(req)) {
      this.start(req, res, undefined);
      return;
    }
    readJsonBody(req, req.headers, this.settings.body, (error, body) => {
      if (error === null) this.start(req, res, body);
      else writeError(res, error, this.settings, this.served.fullName);
    });
  }

  /** Through fastify's router: the body (if any) was read by the server's content-type parser. */
  handleRouted(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    query: Readonly<Record<string, unknown>>,
    params: Readonly<Record<string, unknown>>,
  ): void {
    let input = this.route.query === undefined ? body : this.route.query.decode(query);
    if (this.route.pathParams.length > 0) input = withPathParams(this.route, input, params);
    this.start(req, res, input);
  }

  private start(req: IncomingMessage, res: ServerResponse, input: unknown): void {
    const settings = this.settings;
    const fullName = this.served.fullName;
    const cancel = new CancelSource();
    let ctx: Context;
    try {
      ctx = contextFromHeaders(req.headers, settings.clock.now(), cancel, fullName);
    } catch (error) {
      writeError(res, error, settings, fullName);
      return;
    }
    const running = track(req.socket, cancel);
    this.served.run(input, ctx).then(
      (output) => {
        running?.delete(cancel);
        try {
          writeOutput(res, output);
        } catch (error) {
          // Not serialisable (a cycle, a BigInt): the handler's bug. Answer 500 rather than leave the caller
          // waiting and the rejection unhandled.
          writeError(res, new InternalError(`output of ${fullName} cannot be sent as JSON`, { cause: error }), settings, fullName);
        }
      },
      (error: unknown) => {
        running?.delete(cancel);
        writeError(res, error, settings, fullName);
      },
    );
  }
}

/**
 * The cancel sources of the calls running on each socket. When a socket closes before a call finished (the
 * client went away, or the server cut it off), the call's `ctx.cancel` fires with `CancelledError`. One
 * `close` listener per connection rather than one per response: a listener added and removed per request
 * measured ~0.6 µs, a tenth of what Courier adds to a small GET. HTTP/1.1 runs one call at a time on a
 * connection (pipelined requests are answered in order), so the running call is a field, and only calls
 * beyond it go to a set: a set that takes one entry in and out per request rehashes its table every few
 * requests.
 */
class SocketCalls {
  current: CancelSource | undefined = undefined;
  more: Set<CancelSource> | undefined = undefined;

  add(cancel: CancelSource): void {
    if (this.current === undefined) this.current = cancel;
    else (this.more ??= new Set()).add(cancel);
  }

  delete(cancel: CancelSource): void {
    if (this.current === cancel) this.current = undefined;
    else this.more?.delete(cancel);
  }

  cancelAll(): void {
    const reason = new CancelledError('client disconnected');
    this.current?.cancel(reason);
    this.current = undefined;
    if (this.more !== undefined) for (const c of this.more) c.cancel(reason);
    this.more = undefined;
  }
}

const CALLS = Symbol('courier.httpCalls');

function track(socket: (Socket & { [CALLS]?: SocketCalls }) | null, cancel: CancelSource): SocketCalls | undefined {
  if (socket === null) return undefined;
  let calls = socket[CALLS];
  if (calls === undefined) {
    const created = new SocketCalls();
    calls = socket[CALLS] = created;
    socket.once('close', () => created.cancelAll());
  }
  calls.add(cancel);
  return calls;
}

/** True when the request announces a body (Content-Length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function writeOutput(res: ServerResponse, output: unknown): void {
  if (res.destroyed || res.headersSent) return;
  if (output instanceof Replay) {
    res.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(output.json)), HEADER.replayed, 'true']);
    res.end(output.json);
    return;
  }
  if (output === undefined) {
    res.writeHead(204);
    res.end();
    return;
  }
  const json = JSON.stringify(output);
  res.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(json))]);
  res.end(json);
}

/**
 * Write any error as problem+json with its registered status. 5xx answers and non-Courier errors are
 * reported to `onError` (even when the client is gone and nothing can be written).
 */
export function writeError(
  res: ServerResponse,
  error: unknown,
  settings: Pick<EndpointSettings, 'exposeErrors' | 'onError'>,
  operation: string | undefined,
): void {
  const wire = toWireError(error, { exposeErrors: settings.exposeErrors });
  const status = errorTypeOf(wire.code)?.status ?? 500;
  if (status >= 500 || !(error instanceof CourierError)) settings.onError(error, operation);
  if (res.destroyed || res.headersSent) return;
  let body: string;
  try {
    body = problemJson(wire, status);
  } catch {
    // Details or fields JSON cannot encode (a BigInt, a cycle): send the problem without them rather than
    // leave the caller waiting and the rejection unhandled.
    body = problemJson({ ...wire, details: undefined, fields: undefined }, status);
  }
  const headers = ['content-type', PROBLEM_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body))];
  if (wire.retryAfterMs !== undefined && (status === 429 || status === 503 || status === 409)) {
    headers.push('retry-after', String(Math.ceil(wire.retryAfterMs / 1000)));
  }
  // A refused body was not read: close the connection rather than drain what the client is still sending.
  if (error instanceof MessageTooLargeError) headers.push('connection', 'close');
  if (wasReplayed(error)) headers.push(HEADER.replayed, 'true');
  res.writeHead(status, headers);
  res.end(body);
}
