import type { WebSocket } from 'ws';
import { CancelSource } from '../../core/cancel.js';
import type { Clock } from '../../core/clock.js';
import { CancelledError, CourierError } from '../../core/errors.js';
import { Replay } from '../../reliability/idempotency/idempotency.js';
import { errorTypeOf, toWireError } from '../error-registry.js';
import { BadRequestError, InternalError, NotFoundError } from '../errors.js';
import { parseJsonBody } from '../http/safe-json.js';
import type { ServedOperation } from '../served-operation.js';
import { CloseCode } from './close-codes.js';
import { type CallFrame, ProtocolViolation, type SubFrame, decodeClientFrame, errFrame, resFrame } from './frames.js';
import { Liveness } from './heartbeat.js';
import type { PushChannel, ServerSubscription } from './server-subscription.js';
import { contextFromFrame } from './wire-context.js';

/**
 * One client connection on the server: reads frames, runs calls, carries the connection's subscriptions.
 *
 * Calls: many in flight, each with its own cancel source, keyed by the client's call id. A `cancel` frame,
 * the call's deadline (the shared `ServedOperation` pipeline) or the connection closing cancels the
 * handler's `ctx.cancel`; the answer of a cancelled call is not sent (nobody waits for it).
 *
 * Backpressure on this connection: reading stops (`ws.pause()`) while `maxInFlightCalls` calls are running
 * or while the send buffer is above `highWaterMark` (a client that sends calls but does not read answers
 * cannot make the server buffer without bound); it resumes when both clear. Pushes stop while the buffer is
 * above the mark and resume when the frame that crossed it has been written (see `ServerSubscription`).
 *
 * Protocol violations close this connection with the RFC 6455 code (close-codes.ts) and nothing else: the
 * server keeps serving every other connection.
 */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly maxJsonDepth: number;
  readonly highWaterMark: number;
  readonly maxInFlightCalls: number;
  readonly maxSubscriptions: number;
  readonly exposeErrors: boolean;
  onError(error: unknown, operation: string | undefined): void;
  operation(name: string): ServedOperation | undefined;
  /** Find or create the subscription and attach it here. `fresh`: the server did not know it. */
  subscribe(conn: ServerConnection, frame: SubFrame): { sub: ServerSubscription; fresh: boolean };
  unsubscribe(sub: ServerSubscription): void;
  closed(conn: ServerConnection): void;
}

export class ServerConnection implements PushChannel {
  blocked = false;
  readonly liveness: Liveness;
  readonly subs = new Map<string, ServerSubscription>();
  private readonly calls = new Map<number, CancelSource>();
  private paused = false;
  private closing = false;
  private readonly drained = (): void => this.onDrained();

  constructor(
    readonly ws: WebSocket,
    private readonly host: ConnectionHost,
  ) {
    this.liveness = new Liveness(ws);
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', () => this.onClose());
    // `ws` reports a frame it refuses (1002/1007/1009) here and closes the socket itself.
    ws.on('error', () => {});
  }

  get inFlightCalls(): number {
    return this.calls.size;
  }

  send(frame: string): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (!this.blocked && ws.bufferedAmount + frame.length >= this.host.highWaterMark) {
      // This frame crosses the mark: stop pushes and reading until it has been written out.
      this.blocked = true;
      ws.send(frame, this.drained);
      this.updatePause();
      return;
    }
    ws.send(frame);
  }

  /** Close with `code`, e.g. at shutdown. */
  close(code: number, reason: string): void {
    this.closing = true;
    this.ws.close(code, reason);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    if (isBinary) return this.violate(CloseCode.unsupportedData, 'binary messages are not supported');
    let value: unknown;
    try {
      value = parseJsonBody(data, this.host.maxJsonDepth);
    } catch (error) {
      if (error instanceof BadRequestError && error.reason === 'forbidden-key' && this.refuseCall(data, error)) return;
      return this.violate(CloseCode.policyViolation, error instanceof Error ? error.message : 'malformed frame');
    }
    try {
      const frame = decodeClientFrame(value);
      switch (frame.t) {
        case 'call':
          return this.onCall(frame);
        case 'cancel':
          return this.onCancel(frame.id);
        case 'sub':
          return this.onSub(frame);
        case 'unsub': {
          const sub = this.subs.get(frame.sid);
          if (sub === undefined) return;
          this.subs.delete(frame.sid);
          this.host.unsubscribe(sub);
          return;
        }
        case 'ack':
          this.subs.get(frame.sid)?.ack(frame.seq);
          return;
      }
    } catch (error) {
      if (error instanceof ProtocolViolation) return this.violate(CloseCode.policyViolation, error.message);
      this.host.onError(error, undefined);
      this.violate(CloseCode.internalError, 'internal error');
    }
  }

  /**
   * A call frame whose input holds `__proto__`/`constructor`/`prototype` keys: refused for that call
   * (400, as over HTTP), not for the whole connection. Returns false when the frame is not a call.
   */
  private refuseCall(data: Buffer, error: BadRequestError): boolean {
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString('utf8'));
    } catch {
      return false;
    }
    const id = (raw as { t?: unknown; id?: unknown }).id;
    if ((raw as { t?: unknown }).t !== 'call' || typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return false;
    if (this.calls.has(id)) return false;
    this.send(errFrame(id, toWireError(error)));
    return true;
  }

  private onCall(frame: CallFrame): void {
    const id = frame.id;
    if (this.calls.has(id)) throw new ProtocolViolation(`call id ${id} is already in flight`);
    const served = this.host.operation(frame.op);
    if (served === undefined) {
      this.send(errFrame(id, toWireError(new NotFoundError(`${frame.op} is not served here`))));
      return;
    }
    const cancel = new CancelSource();
    let ctx;
    try {
      ctx = contextFromFrame(frame, this.host.clock.now(), cancel, served.fullName);
    } catch (error) {
      this.fail(id, undefined, error, served.fullName);
      return;
    }
    this.calls.set(id, cancel);
    if (this.calls.size >= this.host.maxInFlightCalls) this.updatePause();
    served.run(frame.in, ctx).then(
      (output) => this.answer(id, cancel, output, served.fullName),
      (error: unknown) => this.fail(id, cancel, error, served.fullName),
    );
  }

  private onCancel(id: number): void {
    const cancel = this.calls.get(id);
    if (cancel === undefined) return; // already answered: the frames crossed
    this.calls.delete(id);
    this.updatePause();
    try {
      cancel.cancel(new CancelledError('the caller cancelled the call'));
    } catch (error) {
      this.host.onError(error, undefined);
    }
  }

  private onSub(frame: SubFrame): void {
    if (!this.subs.has(frame.sid) && this.subs.size >= this.host.maxSubscriptions) {
      throw new ProtocolViolation(`more than ${this.host.maxSubscriptions} subscriptions on one connection`);
    }
    const { sub, fresh } = this.host.subscribe(this, frame);
    this.subs.set(frame.sid, sub);
    this.send(`{"t":"subok","sid":${sub.sidJson},"seq":${sub.log.lastSeq}}`);
    if (fresh && frame.seen > 0) {
      this.send(`{"t":"gap","sid":${sub.sidJson},"from":${frame.seen + 1},"to":null,"reason":"unknown-subscription"}`);
    }
    sub.pump();
  }

  /** True when the call is still ours to answer (not cancelled, not closed), and forgets it. */
  private settle(id: number, cancel: CancelSource): boolean {
    if (this.calls.get(id) !== cancel) return false;
    this.calls.delete(id);
    this.updatePause();
    return !cancel.isCancelled;
  }

  private answer(id: number, cancel: CancelSource, output: unknown, operation: string): void {
    if (!this.settle(id, cancel)) return;
    let frame: string;
    try {
      frame =
        output instanceof Replay
          ? resFrame(id, output.json, true)
          : resFrame(id, output === undefined ? undefined : JSON.stringify(output), false);
    } catch (error) {
      // Not serialisable (a cycle, a BigInt): the handler's bug, not the caller's.
      this.fail(id, undefined, new InternalError(`output of ${operation} is not JSON: ${(error as Error).message}`), operation);
      return;
    }
    this.send(frame);
  }

  private fail(id: number, cancel: CancelSource | undefined, error: unknown, operation: string): void {
    if (cancel !== undefined && !this.settle(id, cancel)) return;
    const wire = toWireError(error, { exposeErrors: this.host.exposeErrors });
    if ((errorTypeOf(wire.code)?.status ?? 500) >= 500 || !(error instanceof CourierError)) this.host.onError(error, operation);
    this.send(errFrame(id, wire));
  }

  private updatePause(): void {
    const ws = this.ws;
    const pause = this.blocked || this.calls.size >= this.host.maxInFlightCalls;
    if (pause === this.paused || ws.readyState !== ws.OPEN) return;
    this.paused = pause;
    if (pause) ws.pause();
    else ws.resume();
  }

  private onDrained(): void {
    this.blocked = false;
    this.updatePause();
    for (const sub of this.subs.values()) {
      if (this.blocked) break;
      sub.pump();
    }
  }

  private violate(code: number, message: string): void {
    if (this.closing) return;
    this.closing = true;
    // A close reason is at most 123 bytes (RFC 6455 §5.5).
    this.ws.close(code, Buffer.from(message).subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, ''));
  }

  private onClose(): void {
    this.closing = true;
    const reason = new CancelledError('the client disconnected');
    for (const cancel of this.calls.values()) {
      try {
        cancel.cancel(reason);
      } catch (error) {
        this.host.onError(error, undefined);
      }
    }
    this.calls.clear();
    this.host.closed(this);
  }
}
