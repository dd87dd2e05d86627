import { type Server, createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import type { TimerHandle } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { EventDef, EventPayload, Implementation, ServiceContract } from '../../core/contract.js';
import { ClosedError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { compile } from '../../schema/compile.js';
import { DEFAULT_MAX_JSON_DEPTH } from '../http/safe-json.js';
import { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from '../served-operation.js';
import type { ServeOptions, ServerTransport } from '../transport.js';
import { CloseCode } from './close-codes.js';
import type { PushedEvent, SubFrame } from './frames.js';
import type { RetentionOptions } from './push-log.js';
import { type ConnectionHost, ServerConnection } from './server-connection.js';
import { ServerSubscription, type SubscriptionLimits, type SubscriptionStats } from './server-subscription.js';

/**
 * Courier's WebSocket server: the contract's queries and commands over one socket per client (many calls
 * in flight, correlated by call id), and server push of the contract's events to subscribers, with
 * per-subscription sequence numbers, acknowledgements and resume after a reconnect (the protocol is in
 * `frames.ts`, the push rules in `server-subscription.ts`).
 *
 * Calls go through the shared server pipeline (`served-operation.ts`): deadline refusal, input
 * validation, idempotency, server middleware, errors as `WireError`s. `publish(event, data)` validates the
 * data against the event's schema once and fans it out to the subscriptions whose filter matches.
 *
 * Resources, all bounded: per connection `maxInFlightCalls` running calls and a send buffer held near
 * `highWaterMarkBytes` (reading pauses above either), `maxSubscriptions` subscriptions; per subscription
 * `maxInFlightPushes` unacknowledged pushes on the wire and `retention` (count, age) retained; a
 * subscription without a connection is forgotten after `detachedTtlMs`. Messages above `maxPayloadBytes`
 * close the connection with 1009 (the `ws` library enforces it while reading).
 *
 * One sweep timer (every `min(heartbeatMs, 1 s)`) beats every connection's heartbeat, applies age retention
 * and expires detached subscriptions.
 */
export interface WsServerOptions extends ServerRuntimeOptions {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** The upgrade path. Default `/`. */
  readonly path?: string;
  /** Largest message accepted, bytes; larger ones close the connection with 1009. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** Deepest JSON nesting in a frame. Default 64. */
  readonly maxJsonDepth?: number;
  /** Ping interval, ms; a peer silent for two intervals is disconnected. 0 disables. Default 30 s. */
  readonly heartbeatMs?: number;
  readonly retention?: RetentionOptions;
  /** A subscription without a connection is kept this long, ms. Default: `retention.maxAgeMs`. */
  readonly detachedTtlMs?: number;
  /** Pushes sent and not acknowledged, per subscription. Default 64. */
  readonly maxInFlightPushes?: number;
  /** Send-buffer size per connection above which pushes and reading pause, bytes. Default 1 MiB. */
  readonly highWaterMarkBytes?: number;
  /** Calls running at once per connection before reading pauses. Default 1024. */
  readonly maxInFlightCalls?: number;
  /** Subscriptions per connection. Default 64. */
  readonly maxSubscriptions?: number;
  /** Told about every 5xx answer and every non-Courier error a handler raised. */
  readonly onError?: (error: unknown, operation: string | undefined) => void;
}

export interface PublishOptions {
  /** CloudEvents `subject`: what subscribers filter on with `subjects`. */
  readonly subject?: string;
  /** CloudEvents `source`. Default `/<service>`. */
  readonly source?: string;
  /** CloudEvents `id`. Default a new UUIDv7. */
  readonly id?: string;
}

export interface WsServerStats {
  readonly connections: number;
  readonly subscriptions: readonly SubscriptionStats[];
}

export class WsServer implements ServerTransport {
  readonly name = 'ws';
  /** The HTTP server the WebSocket endpoint is upgraded from. */
  readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly runtime: ServerRuntime;
  private readonly hostName: string;
  private readonly port: number;
  private readonly path: string;
  private readonly operations = new Map<string, ServedOperation>();
  private readonly connections = new Set<ServerConnection>();
  private readonly subscriptions = new Map<string, ServerSubscription>();
  /** Subscriptions by event type, for publish. */
  private readonly byType = new Map<string, Set<ServerSubscription>>();
  private readonly limits: SubscriptionLimits;
  private readonly detachedTtlMs: number;
  private readonly heartbeatMs: number;
  private readonly sweepMs: number;
  private readonly connectionHost: ConnectionHost;
  private sweepTimer: TimerHandle | undefined;
  private ticks = 0;
  private address: string | undefined;
  private closed = false;

  constructor(options: WsServerOptions = {}) {
    this.runtime = new ServerRuntime(options);
    this.hostName = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.path = options.path ?? '/';
    const maxAgeMs = options.retention?.maxAgeMs ?? 60_000;
    this.limits = {
      maxCount: positive(options.retention?.maxCount ?? 1000, 'retention.maxCount'),
      maxAgeMs: positive(maxAgeMs, 'retention.maxAgeMs'),
      maxInFlight: positive(options.maxInFlightPushes ?? 64, 'maxInFlightPushes'),
    };
    this.detachedTtlMs = options.detachedTtlMs ?? maxAgeMs;
    this.heartbeatMs = options.heartbeatMs ?? 30_000;
    this.sweepMs = this.heartbeatMs > 0 ? Math.min(this.heartbeatMs, 1000) : 1000;
    const onError = options.onError ?? (() => {});
    this.connectionHost = {
      clock: this.runtime.clock,
      maxJsonDepth: options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
      highWaterMark: options.highWaterMarkBytes ?? 1024 * 1024,
      maxInFlightCalls: options.maxInFlightCalls ?? 1024,
      maxSubscriptions: options.maxSubscriptions ?? 64,
      exposeErrors: this.runtime.exposeErrors,
      onError,
      operation: (name) => this.operations.get(name),
      subscribe: (conn, frame) => this.attach(conn, frame),
      unsubscribe: (sub) => this.forget(sub),
      closed: (conn) => this.onConnectionClosed(conn),
    };
    this.http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' });
      res.end('WebSocket upgrade required\n');
    });
    this.wss = new WebSocketServer({
      server: this.http,
      path: this.path,
      maxPayload: options.maxPayloadBytes ?? 1024 * 1024,
      perMessageDeflate: false,
      // A rogue client's handshake must not get a huge frame through a compression bomb, and JSON calls
      // are small: compression is off.
    });
    this.wss.on('connection', (ws) => {
      if (this.closed) {
        ws.close(CloseCode.goingAway, 'server closing');
        return;
      }
      this.connections.add(new ServerConnection(ws, this.connectionHost));
    });
    this.wss.on('error', (error) => onError(error, undefined));
  }

  /** `ws://host:port/path` once listening. */
  get url(): string {
    if (this.address === undefined) throw new Error('the server is not listening');
    return this.address;
  }

  serve<C extends ServiceContract>(contract: C, implementation: Implementation<C>, options: ServeOptions = {}): void {
    const impl = implementation as unknown as Record<string, (input: any, ctx: Context) => Promise<unknown>>;
    for (const [name, op] of Object.entries(contract.operations)) {
      const key = `${contract.name}.${name}`;
      if (this.operations.has(key)) throw new TypeError(`${key} is already served`);
      this.operations.set(key, new ServedOperation(op, impl[name]!, options.middleware ?? [], this.runtime));
    }
  }

  /** Start listening; resolves with the URL. */
  async listen(): Promise<string> {
    if (this.closed) throw new ClosedError('WebSocket server');
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.port, this.hostName, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const address = this.http.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.address = `ws://${host}:${address.port}${this.path}`;
    this.armSweep();
    return this.address;
  }

  /**
   * Push an event to every subscription whose filter matches (`event.type`, and `subject` when the
   * subscription filters on subjects). The data is validated against the event's schema (a
   * `ValidationError` is thrown, nothing is pushed) and serialised once. Returns the number of
   * subscriptions it was queued for; delivery to each follows the push rules (`server-subscription.ts`).
   * Synchronous: schemas whose validation is asynchronous are not supported here.
   */
  publish<E extends EventDef>(event: E, data: EventPayload<E>, options: PublishOptions = {}): number {
    if (this.closed) throw new ClosedError('WebSocket server');
    const value = compile(event.schema).validate(data, `data of event ${event.type}`);
    const subs = this.byType.get(event.type);
    if (subs === undefined || subs.size === 0) return 0;
    const now = this.runtime.clock.now();
    const ev: PushedEvent = {
      id: options.id ?? newId(),
      type: event.type,
      source: options.source ?? `/${event.service}`,
      time: new Date(now).toISOString(),
      ...(options.subject === undefined ? {} : { subject: options.subject }),
    };
    const tail = `"ev":${JSON.stringify(ev)},"data":${JSON.stringify(value) ?? 'null'}}`;
    let count = 0;
    for (const sub of subs) {
      if (!sub.matches(event.type, options.subject)) continue;
      sub.offer(now, tail);
      count++;
    }
    return count;
  }

  /** Connections and subscriptions, for monitoring and tests. */
  stats(): WsServerStats {
    return { connections: this.connections.size, subscriptions: [...this.subscriptions.values()].map((s) => s.stats()) };
  }

  /** Stop taking connections, close every connection with 1001, cancel running calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) this.runtime.clock.clearTimeout(this.sweepTimer);
    for (const conn of this.connections) conn.close(CloseCode.goingAway, 'server closing');
    const wssClosed = new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // Peers that do not complete the closing handshake promptly are cut off.
    const cut = setTimeout(() => {
      for (const conn of this.connections) conn.ws.terminate();
    }, 1000);
    cut.unref();
    await wssClosed;
    if (this.http.listening) {
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections();
      });
    }
    clearTimeout(cut);
    this.subscriptions.clear();
    this.byType.clear();
  }

  private attach(conn: ServerConnection, frame: SubFrame): { sub: ServerSubscription; fresh: boolean } {
    const now = this.runtime.clock.now();
    const types = new Set(frame.types);
    const subjects = frame.subjects === undefined ? undefined : new Set(frame.subjects);
    let sub = this.subscriptions.get(frame.sid);
    const fresh = sub === undefined;
    if (sub === undefined) {
      sub = new ServerSubscription(frame.sid, types, subjects, this.limits, frame.seen, now);
      this.subscriptions.set(frame.sid, sub);
    } else {
      // Resumed, possibly on a new connection before the old one was noticed dead: take it over.
      const previous = sub.attachedTo;
      if (previous instanceof ServerConnection && previous !== conn) previous.subs.delete(sub.sid);
      this.unindex(sub);
      sub.types = types;
      sub.subjects = subjects;
    }
    for (const type of types) {
      let set = this.byType.get(type);
      if (set === undefined) this.byType.set(type, (set = new Set()));
      set.add(sub);
    }
    sub.attach(conn, frame.after, frame.seen);
    return { sub, fresh };
  }

  private forget(sub: ServerSubscription): void {
    this.subscriptions.delete(sub.sid);
    this.unindex(sub);
  }

  private unindex(sub: ServerSubscription): void {
    for (const type of sub.types) {
      const set = this.byType.get(type);
      set?.delete(sub);
      if (set?.size === 0) this.byType.delete(type);
    }
  }

  private onConnectionClosed(conn: ServerConnection): void {
    this.connections.delete(conn);
    const now = this.runtime.clock.now();
    for (const sub of conn.subs.values()) if (sub.attachedTo === conn) sub.detach(now);
    conn.subs.clear();
  }

  private armSweep(): void {
    if (this.closed) return;
    this.sweepTimer = this.runtime.clock.setTimeout(() => {
      this.sweep();
      this.armSweep();
    }, this.sweepMs);
  }

  private sweep(): void {
    const now = this.runtime.clock.now();
    // Beat every ceil(heartbeatMs / sweepMs) ticks (counting ticks, not reading the clock: timer drift
    // must not skip a beat and stretch the detection time).
    if (this.heartbeatMs > 0 && ++this.ticks >= Math.ceil(this.heartbeatMs / this.sweepMs)) {
      this.ticks = 0;
      for (const conn of this.connections) conn.liveness.beat();
    }
    for (const sub of this.subscriptions.values()) {
      if (sub.detachedAt !== undefined && now - sub.detachedAt >= this.detachedTtlMs) this.forget(sub);
      else sub.expire(now);
    }
  }
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new RangeError(`${name} must be > 0, got ${value}`);
  return value;
}

/** A WebSocket server transport: `serve` contracts on it, `listen`, then `publish` events. */
export function wsServer(options: WsServerOptions = {}): WsServer {
  return new WsServer(options);
}
