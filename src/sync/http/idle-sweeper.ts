import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes keep-alive connections that sit idle, in place of Node's own `server.keepAliveTimeout`.
 *
 * Why: Node implements that timeout with a timer per connection, re-armed after every response and
 * cleared at the next request (`socket.setTimeout` twice per request). On a small GET that measured
 * 0.6–0.9 µs of the server's ~12 µs per request here, more than all of Courier's own routing. This keeps
 * one interval per server instead and costs a request a counter and a field write (plus a check whether
 * the previous response finished).
 *
 * Contract: a connection on which no response is in progress and no request started for a whole sweep
 * period (`idleMs`) is destroyed at the next sweep, so an idle connection is closed between `idleMs` and
 * `2 × idleMs` after its last response ended; never earlier, so a client that keeps sockets for less than
 * `idleMs` never races the close. A connection whose response is still being produced (a slow handler, a
 * long stream) is never closed by this, nor is a socket another handler took over (WebSocket upgrade,
 * CONNECT). Header and request-body timeouts stay Node's (`headersTimeout`, `requestTimeout`); a
 * connection that never sends a request is closed like an idle one.
 */
interface ConnectionState {
  /** Requests started on the connection. */
  requests: number;
  /** Requests started as of the last sweep. */
  seen: number;
  /** The response being produced, until a sweep saw it finished (then dropped, so that it can be collected). */
  response: ServerResponse | undefined;
  /** Responses of pipelined requests that arrived while `response` was unfinished. */
  queued: ServerResponse[] | undefined;
  /** The connection was idle at the last sweep. */
  idle: boolean;
}

const STATE = Symbol('courier.idleSweeper');

type TrackedSocket = Socket & { [STATE]?: ConnectionState };

export class IdleSweeper {
  private readonly sockets = new Set<TrackedSocket>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly idleMs: number) {}

  /** Track `server`'s connections; sweeping starts now. Call `onRequest` for every request. */
  attach(server: Server): void {
    // 0 (or no finite period): connections stay open, and nothing is tracked (`onRequest` finds no state).
    if (!(this.idleMs > 0 && this.idleMs < 2 ** 31)) return;
    server.on('connection', (socket: TrackedSocket) => {
      socket[STATE] = { requests: 0, seen: 0, response: undefined, queued: undefined, idle: false };
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    for (const event of ['upgrade', 'connect'] as const) this.releaseTakenOver(server, event);
    this.timer = setInterval(this.sweep, this.idleMs);
    this.timer.unref();
  }

  onRequest(socket: Socket, response: ServerResponse): void {
    const state = (socket as TrackedSocket)[STATE];
    if (state === undefined) return; // not swept (period 0), or a socket handed over without a 'connection' event
    state.requests++;
    const current = state.response;
    if (current === undefined || current.writableFinished) state.response = response;
    else (state.queued ??= []).push(response); // pipelined behind one still running
  }

  /**
   * A socket another handler takes over (a WebSocket upgrade, a CONNECT tunnel) is no HTTP connection any
   * more and must not be swept. Listening to `upgrade`/`connect` ourselves would tell Node that someone
   * handles those requests when nobody does, so the listener that forgets the socket is added in front of
   * the first handler of the application's (ws, @fastify/websocket) and removed after its last one.
   */
  private releaseTakenOver(server: Server, event: 'upgrade' | 'connect'): void {
    const forget = (_request: unknown, socket: Socket): void => {
      this.sockets.delete(socket);
    };
    server.on('newListener', (name: string | symbol, listener: unknown) => {
      if (name === event && listener !== forget && !server.listeners(event).includes(forget)) server.prependListener(event, forget);
    });
    if (server.listenerCount(event) > 0) server.prependListener(event, forget);
    server.on('removeListener', (name: string | symbol) => {
      const rest = server.listeners(event);
      if (name === event && rest.length === 1 && rest[0] === forget) server.removeListener(event, forget);
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private readonly sweep = (): void => {
    for (const socket of this.sockets) {
      const state = socket[STATE]!;
      // Finished means written out to the socket, not just ended: a big body to a slow reader is still busy.
      if (state.queued !== undefined) {
        state.queued = state.queued.filter((r) => !r.writableFinished);
        if (state.queued.length === 0) state.queued = undefined;
      }
      const response = state.response;
      if ((response !== undefined && !response.writableFinished) || state.queued !== undefined) {
        state.idle = false; // still answering: busy, however long it takes
        continue;
      }
      state.response = undefined;
      const quiet = state.requests === state.seen;
      state.seen = state.requests;
      if (quiet && state.idle) {
        socket.destroy();
        continue;
      }
      state.idle = true;
    }
  };
}
