import { WebSocket } from 'ws';
import { CancelToken } from '../../core/cancel.js';
import { type Clock, type TimerHandle, systemClock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { Client, EventDef, OperationDef, ServiceContract } from '../../core/contract.js';
import { ClosedError, MessageTooLargeError } from '../../core/errors.js';
import { backoffDelay } from '../../policies/backoff.js';
import { timeout } from '../../policies/timeout.js';
import { fromWireError } from '../error-registry.js';
import { UnavailableError } from '../errors.js';
import { type ClientOptions, type ClientTransport, createClient } from '../transport.js';
import { type PushHandler, type SubscribeOptions, type SubscriptionLink, WsSubscription } from './client-subscription.js';
import { CloseCode } from './close-codes.js';
import { ProtocolViolation, type ServerFrame, decodeServerFrame } from './frames.js';
import { Liveness } from './heartbeat.js';
import { callFrameJson } from './wire-context.js';

/**
 * Courier's WebSocket client transport: one socket to a `WsServer`, shared by every call and subscription.
 *
 * Calls:
 * - many in flight on the one socket, each with its own call id; answers may come back in any order;
 * - the context travels in the call frame (`wire-context.ts`), the deadline as the remaining budget; a call
 *   with a deadline is also guarded here: when it passes, the call rejects with `DeadlineExceededError` and
 *   a `cancel` frame tells the server to cancel the handler. Cancelling `ctx.cancel` does the same with the
 *   token's reason;
 * - errors come back as the registered Courier class (`error-registry.ts`);
 * - a call made while the socket is not open waits for the connection (at most `maxQueuedCalls`); if the
 *   attempt fails it rejects with `UnavailableError` (retryable: nothing was sent). A call in flight when
 *   the connection drops rejects with `UnavailableError`, retryable only when repeating it is harmless (a
 *   query, an `idempotent` operation, or a call with an idempotency key): the server may have run it.
 *
 * Connection: opened on first use (or `connect()`), reopened after any loss with capped exponential backoff
 * and full jitter (`reconnect`), at once when a call is waiting; every subscription resumes on the new
 * socket from its last acknowledged push. A heartbeat (`heartbeatMs`) detects a server that stopped
 * answering and drops the socket so that the reconnect starts.
 */
export interface WsClientOptions {
  readonly clock?: Clock;
  /** Headers of the upgrade request (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest message accepted from the server, bytes (1009 above). Default 16 MiB. */
  readonly maxPayloadBytes?: number;
  /** Ping interval, ms; a server silent for two intervals is disconnected. 0 disables. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Reconnect backoff, ms, or `false` to stay disconnected after a loss. Default base 100, max 5000. */
  readonly reconnect?: { readonly baseMs?: number; readonly maxMs?: number } | false;
  /** Time the opening handshake may take, ms. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Calls waiting for a connection before more are refused (`UnavailableError`). Default 1024. */
  readonly maxQueuedCalls?: number;
  /**
   * Largest call frame sent, bytes; a larger call rejects with `MessageTooLargeError` before it is sent
   * (a frame over the server's `maxPayloadBytes` would close the whole connection with 1009, failing
   * every call on it). Set it to the server's limit. Default 1 MiB (the server's default).
   */
  readonly maxMessageBytes?: number;
  /** Random in [0, 1) for backoff jitter (tests). */
  readonly random?: () => number;
}

/** How one operation is sent: plainly, or under the deadline guard. Built once per operation. */
interface Route {
  readonly send: (input: unknown, ctx: Context) => Promise<unknown>;
  readonly guarded: (input: unknown, ctx: Context) => Promise<unknown>;
}

/** One call, from `call` until its answer, its cancellation or the loss of its connection. */
class PendingCall {
  id = 0;
  unsubscribe: (() => void) | undefined;
  settled = false;

  constructor(
    readonly op: string,
    readonly input: unknown,
    readonly ctx: Context,
    readonly replayable: boolean,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}

  finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.unsubscribe?.();
    return true;
  }
}

export class WsClientTransport implements ClientTransport {
  readonly name = 'ws';
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly maxQueuedCalls: number;
  private readonly maxMessageBytes: number;
  private readonly reconnect: { baseMs: number; maxMs: number } | undefined;
  private readonly random: () => number;
  private readonly deadlineGuard;
  private readonly routes = new Map<OperationDef, Route>();
  private readonly link: SubscriptionLink;
  private ws: WebSocket | undefined;
  private open = false;
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private waiting: PendingCall[] = [];
  private readonly subs = new Map<string, WsSubscription<any>>();
  private attempt = 0;
  private previousDelay = 0;
  private reconnectTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private opened: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Connections opened so far (1 after the first; each reconnect adds one). */
  connections = 0;

  constructor(
    readonly url: string,
    private readonly options: WsClientOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxQueuedCalls = options.maxQueuedCalls ?? 1024;
    this.maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
    this.reconnect =
      options.reconnect === false
        ? undefined
        : { baseMs: options.reconnect?.baseMs ?? 100, maxMs: options.reconnect?.maxMs ?? 5000 };
    this.random = options.random ?? Math.random;
    this.deadlineGuard = timeout({ ms: Infinity, clock: this.clock });
    this.link = {
      sendIfOpen: (frame) => this.sendIfOpen(frame),
      forget: (sub) => {
        this.subs.delete(sub.sid);
      },
    };
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.open;
  }

  /** A typed client of `contract` over this socket. */
  client<C extends ServiceContract>(contract: C, options: ClientOptions = {}): Client<C> {
    return createClient(contract, this, { clock: this.clock, ...options });
  }

  /** Open the socket now (calls and subscriptions do it on demand); resolves when it is open. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('WebSocket client'));
    if (this.open) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.opened.push({ resolve, reject });
      this.ensureConnecting(true);
    });
  }

  call(operation: OperationDef, input: unknown, ctx: Context): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('WebSocket client'));
    const route = this.routes.get(operation) ?? this.addRoute(operation);
    return ctx.deadline === undefined ? route.send(input, ctx) : route.guarded(input, ctx);
  }

  private addRoute(operation: OperationDef): Route {
    const op = `${operation.service}.${operation.name}`;
    const safe = operation.kind === 'query' || operation.idempotent === true;
    const send = (input: unknown, ctx: Context): Promise<unknown> =>
      this.send(op, input, ctx, safe || ctx.idempotencyKey !== undefined);
    const route: Route = { send, guarded: this.deadlineGuard(send) };
    this.routes.set(operation, route);
    return route;
  }

  /**
   * Subscribe to `events` (matched by CloudEvents type; `options.subjects` narrows by subject). Resolves
   * once the server confirmed; the subscription lives, across reconnects, until `close()`.
   */
  async subscribe<E extends EventDef>(
    events: readonly E[],
    handler: PushHandler<E>,
    options: SubscribeOptions = {},
  ): Promise<WsSubscription<E>> {
    if (this.closed) throw new ClosedError('WebSocket client');
    if (events.length === 0) throw new TypeError('subscribe: at least one event');
    const sub = new WsSubscription<E>(this.link, events, handler, options);
    this.subs.set(sub.sid, sub);
    if (!this.sendIfOpen(sub.subFrame())) this.ensureConnecting();
    await sub.ready;
    return sub;
  }

  /** Drop the socket without closing the transport (it reconnects): for drills and tests. */
  disconnect(): void {
    this.ws?.terminate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    const error = new ClosedError('WebSocket client');
    this.failWaiting(error);
    for (const call of this.pending.values()) if (call.finish()) call.reject(error);
    this.pending.clear();
    for (const sub of this.subs.values()) sub.fail(error);
    for (const o of this.opened.splice(0)) o.reject(error);
    const ws = this.ws;
    if (ws === undefined || ws.readyState === ws.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === ws.CONNECTING) ws.terminate();
      else ws.close(CloseCode.normal, 'client closing');
      const cut = setTimeout(() => ws.terminate(), 1000);
      cut.unref();
    });
  }

  // ------------------------------------------------------------------------------------------ calls

  private send(op: string, input: unknown, ctx: Context, replayable: boolean): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('WebSocket client'));
    return new Promise<unknown>((resolve, reject) => {
      const call = new PendingCall(op, input, ctx, replayable, resolve, reject);
      if (ctx.cancel !== CancelToken.never) {
        if (ctx.cancel.isCancelled) return reject(ctx.cancel.reason);
        call.unsubscribe = ctx.cancel.onCancel((reason) => this.abandon(call, reason));
      }
      if (this.open) return this.transmit(call);
      if (this.waiting.length >= this.maxQueuedCalls) {
        call.finish();
        return reject(new UnavailableError(`more than ${this.maxQueuedCalls} calls waiting for a WebSocket connection`));
      }
      this.waiting.push(call);
      this.ensureConnecting(true);
    });
  }

  private transmit(call: PendingCall): void {
    const id = this.nextId++;
    let frame: string;
    try {
      frame = callFrameJson(id, call.op, call.input, call.ctx, this.clock.now());
      // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when the frame could be too large.
      if (frame.length * 3 > this.maxMessageBytes) {
        const bytes = Buffer.byteLength(frame);
        if (bytes > this.maxMessageBytes) throw new MessageTooLargeError(bytes, this.maxMessageBytes);
      }
    } catch (error) {
      if (call.finish()) call.reject(error);
      return;
    }
    call.id = id;
    this.pending.set(id, call);
    this.ws!.send(frame);
  }

  /** The caller gave up (deadline, cancel): reject now and tell the server to stop the handler. */
  private abandon(call: PendingCall, reason: unknown): void {
    if (!call.finish()) return;
    if (call.id !== 0 && this.pending.delete(call.id)) this.sendIfOpen(`{"t":"cancel","id":${call.id}}`);
    else {
      const i = this.waiting.indexOf(call);
      if (i >= 0) this.waiting.splice(i, 1);
    }
    call.reject(reason);
  }

  private failWaiting(error: unknown): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const call of waiting) if (call.finish()) call.reject(error);
  }

  // ------------------------------------------------------------------------------------- connection

  private sendIfOpen(frame: string): boolean {
    if (!this.open) return false;
    this.ws!.send(frame);
    return true;
  }

  /** Start a connection attempt unless one is open or under way; `now` skips a pending backoff wait. */
  private ensureConnecting(now = false): void {
    if (this.closed || this.ws !== undefined) return;
    if (this.reconnectTimer !== undefined) {
      if (!now) return;
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    this.dial();
  }

  private dial(): void {
    const ws = new WebSocket(this.url, {
      headers: { ...this.options.headers },
      maxPayload: this.options.maxPayloadBytes ?? 16 * 1024 * 1024,
      handshakeTimeout: this.options.handshakeTimeoutMs ?? 10_000,
      perMessageDeflate: false,
    });
    this.ws = ws;
    const liveness = new Liveness(ws);
    ws.on('open', () => this.onOpen(ws, liveness));
    ws.on('message', (data, isBinary) => this.onMessage(ws, data as Buffer, isBinary));
    ws.on('close', (code) => this.onClose(ws, code));
    ws.on('error', () => {}); // followed by 'close', where everything is handled
  }

  private onOpen(ws: WebSocket, liveness: Liveness): void {
    if (this.ws !== ws) return;
    this.open = true;
    this.connections++;
    this.attempt = 0;
    for (const sub of this.subs.values()) ws.send(sub.subFrame());
    const waiting = this.waiting;
    this.waiting = [];
    for (const call of waiting) if (!call.settled) this.transmit(call);
    for (const o of this.opened.splice(0)) o.resolve();
    this.startHeartbeat(ws, liveness);
  }

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (this.ws !== ws) return;
    let frame: ServerFrame;
    try {
      if (isBinary) throw new ProtocolViolation('binary messages are not supported');
      frame = decodeServerFrame(JSON.parse(data.toString('utf8')));
    } catch (error) {
      const message = error instanceof ProtocolViolation ? error.message : 'malformed frame';
      ws.close(isBinary ? CloseCode.unsupportedData : CloseCode.policyViolation, message.slice(0, 120));
      return;
    }
    switch (frame.t) {
      case 'res': {
        const call = this.pending.get(frame.id);
        if (call === undefined) return; // cancelled meanwhile
        this.pending.delete(frame.id);
        if (call.finish()) call.resolve(frame.out);
        return;
      }
      case 'err': {
        const call = this.pending.get(frame.id);
        if (call === undefined) return;
        this.pending.delete(frame.id);
        if (call.finish()) call.reject(fromWireError(frame.err));
        return;
      }
      case 'subok':
        this.subs.get(frame.sid)?.onSubOk();
        return;
      case 'push':
        this.subs.get(frame.sid)?.onPush(frame);
        return;
      case 'gap':
        this.subs.get(frame.sid)?.onGap(frame);
        return;
    }
  }

  private onClose(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    const wasOpen = this.open;
    this.ws = undefined;
    this.open = false;
    this.stopHeartbeat();
    for (const call of this.pending.values()) {
      if (!call.finish()) continue;
      call.reject(
        new UnavailableError(`WebSocket connection lost (close code ${code}) with the call in flight`, {
          retryable: call.replayable,
        }),
      );
    }
    this.pending.clear();
    if (!wasOpen) {
      // The attempt failed: nothing waiting was sent.
      this.failWaiting(new UnavailableError(`WebSocket connection to ${this.url} failed (close code ${code})`));
      for (const o of this.opened.splice(0)) o.reject(new UnavailableError(`WebSocket connection to ${this.url} failed`));
    }
    if (this.closed || this.reconnect === undefined) return;
    const delay = backoffDelay(++this.attempt, this.previousDelay || this.reconnect.baseMs, {
      baseMs: this.reconnect.baseMs,
      maxMs: this.reconnect.maxMs,
      jitter: 'full',
      random: this.random,
    });
    this.previousDelay = delay;
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      // Reconnect when something needs the socket; an idle transport reconnects on its next call.
      if (this.subs.size > 0 || this.waiting.length > 0 || this.opened.length > 0) this.dial();
    }, delay);
  }

  private startHeartbeat(ws: WebSocket, liveness: Liveness): void {
    if (this.heartbeatMs <= 0) return;
    const tick = (): void => {
      if (this.ws !== ws || !liveness.beat()) return;
      this.heartbeatTimer = this.clock.setTimeout(tick, this.heartbeatMs);
    };
    this.heartbeatTimer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}

/** A WebSocket client transport for the Courier server at `url` (e.g. `ws://127.0.0.1:3001/`). */
export function ws(url: string, options: WsClientOptions = {}): WsClientTransport {
  return new WsClientTransport(url, options);
}
