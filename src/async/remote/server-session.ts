/**
 * One client connection on the broker server. It turns frames into calls on the served broker and their
 * outcomes into frames:
 *
 * - PUBLISH → `broker.publish`, in arrival order (so one client's publishes keep their order); each result
 *   joins the RESULTS frame of the current event-loop turn, so a group commit of many publishes costs one
 *   frame back. With more than `PAUSE_AT` publishes not yet stored the session stops reading the socket
 *   (the client's writes then block in the kernel), and reads again below `RESUME_AT`.
 * - SETTLE → the delivery's `ack` / `nack` / `extend`; ACKS (protocol 2) → `ack` of each delivery listed,
 *   answered once, when all of them are stored. A settlement of a delivery the session no longer knows
 *   (its subscription closed) is answered OK and does nothing, as settling twice does.
 * - REQUEST → subscribe / unsubscribe / seek / lag.
 *
 * When the connection goes away, for whatever reason, every subscription of the session is closed on the
 * served broker, which releases the deliveries the client had not settled to the group: they are delivered
 * again (attempt + 1). Publishes already handed to the broker complete there; their results are dropped.
 */
import type { Broker, Delivery, StartPosition } from '../broker.js';
import type { Cursor } from './frame-decoder.js';
import { FramedSocket } from './framed-socket.js';
import { carriesEncodedEntry, ENCODED_ENTRY } from '../encoded-entry.js';
import { decodePublish, encodeDeliver, encodeDeliverEntry, encodeResult } from './message-codec.js';
import { asError, ProtocolError } from './remote-errors.js';
import {
  FrameType,
  fromJson,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ResultKind,
  SettleOp,
  toJson,
  type ControlRequest,
} from './protocol.js';
import { DeliveryTable } from './delivery-table.js';
import { ServedSubscription } from './served-subscription.js';
import type { Socket } from 'node:net';

const PAUSE_AT = 32_768;
const RESUME_AT = 8_192;

interface Outstanding {
  readonly delivery: Delivery;
  readonly sub: ServedSubscription;
}

export class ServerSession {
  private readonly framed: FramedSocket;
  private readonly subs = new Map<number, ServedSubscription>();
  private readonly outstanding = new DeliveryTable<Outstanding>();
  private greeted = false;
  /** The protocol version agreed in the handshake. */
  private protocol = MIN_PROTOCOL_VERSION;
  private closed = false;
  private paused = false;
  private publishing = 0;
  private publishesDone: (() => void) | undefined;
  /** Results of this turn, written as one RESULTS frame right before the flush. */
  private resultIds: number[] = [];
  private resultKinds: number[] = [];
  private resultValues: unknown[] = [];
  /** The settlement promise the last settlements are waiting for, and their request ids. */
  private settleWait: Promise<void> | undefined;
  private settleIds: number[] = [];
  /** Resolves once the session is gone and its subscriptions are closed. */
  readonly ended: Promise<void>;
  private markEnded!: () => void;

  constructor(
    socket: Socket,
    private readonly broker: Broker,
    private readonly onError: (error: unknown) => void,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    this.framed = new FramedSocket(socket, {
      onFrame: (type, cursor) => this.onFrame(type, cursor),
      onClose: () => void this.teardown(),
      beforeFlush: () => this.writeResults(),
    });
  }

  /** Stop taking work, let publishes in progress finish and answer them, then close the connection. */
  async shutdown(): Promise<void> {
    if (this.closed) return this.ended;
    this.framed.socket.pause();
    await Promise.all([...this.subs.values()].map((s) => s.close().catch(this.onError)));
    if (this.publishing > 0) await Promise.race([new Promise<void>((resolve) => (this.publishesDone = resolve)), this.ended]);
    this.framed.end();
    return this.ended;
  }

  /** Cut the connection now, without answering anything (what the client sees when this process dies). */
  cut(): void {
    this.framed.destroy();
  }

  private onFrame(type: number, c: Cursor): void {
    if (!this.greeted) {
      if (type !== FrameType.HELLO) throw new ProtocolError(`expected HELLO, got frame type ${type}`);
      this.greeted = true;
      this.welcome(c);
      return;
    }
    switch (type) {
      case FrameType.PUBLISH:
        this.publish(c);
        return;
      case FrameType.SETTLE:
        this.settle(c);
        return;
      case FrameType.ACKS:
        if (this.protocol < 2) throw new ProtocolError('ACKS frame on a protocol 1 connection');
        this.acks(c);
        return;
      case FrameType.REQUEST: {
        const reqId = c.u32();
        const request = fromJson(c.str()) as ControlRequest;
        this.control(request).then(
          (value) => this.result(reqId, value === undefined ? ResultKind.OK : ResultKind.JSON, value),
          (error: unknown) => this.result(reqId, ResultKind.ERROR, error),
        );
        return;
      }
      default:
        throw new ProtocolError(`unknown frame type ${type}`);
    }
  }

  private welcome(c: Cursor): void {
    const hello = fromJson(c.str()) as { protocol?: unknown };
    const offered = hello.protocol;
    if (typeof offered !== 'number' || !Number.isInteger(offered) || offered < MIN_PROTOCOL_VERSION) {
      throw new ProtocolError(`client offers protocol ${String(offered)}; this server speaks ${MIN_PROTOCOL_VERSION}–${PROTOCOL_VERSION}`);
    }
    this.protocol = Math.min(PROTOCOL_VERSION, offered);
    const out = this.framed.out;
    out.begin(FrameType.WELCOME);
    out.str(
      toJson({
        protocol: this.protocol,
        clientProtocol: hello.protocol,
        name: this.broker.name,
        features: this.broker.features,
        seek: typeof this.broker.seek === 'function',
      }),
    );
    out.end();
    this.framed.flush();
  }

  private publish(c: Cursor): void {
    const { reqId, topic, message } = decodePublish(c);
    this.publishing++;
    if (this.publishing >= PAUSE_AT && !this.paused) {
      this.paused = true;
      this.framed.socket.pause();
    }
    let pending;
    try {
      pending = this.broker.publish(topic, message);
    } catch (error) {
      pending = Promise.reject(asError(error));
    }
    pending.then(
      (receipt) => {
        this.published();
        const seq = receipt.sequence;
        if (typeof seq === 'number') this.result(reqId, ResultKind.SEQUENCE_NUMBER, seq);
        else if (typeof seq === 'bigint') this.result(reqId, ResultKind.SEQUENCE_BIGINT, seq);
        else this.result(reqId, ResultKind.OK, undefined);
      },
      (error: unknown) => {
        this.published();
        this.result(reqId, ResultKind.ERROR, error);
      },
    );
  }

  private published(): void {
    this.publishing--;
    if (this.paused && this.publishing <= RESUME_AT && !this.closed) {
      this.paused = false;
      this.framed.socket.resume();
    }
    if (this.publishing === 0 && this.publishesDone !== undefined) {
      const done = this.publishesDone;
      this.publishesDone = undefined;
      done();
    }
  }

  private settle(c: Cursor): void {
    const reqId = c.u32();
    const deliveryId = c.u32();
    const op = c.u8();
    const ms = c.f64();
    const entry = this.outstanding.get(deliveryId);
    if (entry === undefined) {
      this.result(reqId, ResultKind.OK, undefined);
      return;
    }
    let done: Promise<void>;
    try {
      switch (op) {
        case SettleOp.ACK:
          this.end(deliveryId, entry);
          done = entry.delivery.ack();
          break;
        case SettleOp.NACK:
          this.end(deliveryId, entry);
          done = entry.delivery.nack(ms > 0 ? { delayMs: ms } : undefined);
          break;
        case SettleOp.EXPIRE:
          this.end(deliveryId, entry);
          done = entry.delivery.nack();
          break;
        case SettleOp.EXTEND:
          done = entry.delivery.extend(ms > 0 ? ms : undefined);
          break;
        default:
          throw new ProtocolError(`unknown settle op ${op}`);
      }
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      done = Promise.reject(asError(error));
    }
    this.whenSettled(done, reqId);
  }

  /** ACKS: ack every delivery listed; one result, once every ack is stored. */
  private acks(c: Cursor): void {
    const reqId = c.u32();
    const count = c.u32();
    // All acks of one frame usually wait for the same commit: keep the distinct promises only.
    let last: Promise<void> | undefined;
    let waits: Promise<void>[] | undefined;
    for (let i = 0; i < count; i++) {
      const deliveryId = c.u32();
      const entry = this.outstanding.get(deliveryId);
      if (entry === undefined) continue; // released already: acking it is a no-op
      this.end(deliveryId, entry);
      let done: Promise<void>;
      try {
        done = entry.delivery.ack();
      } catch (error) {
        done = Promise.reject(asError(error));
      }
      if (done === last) continue;
      last = done;
      (waits ??= []).push(done);
    }
    if (waits === undefined) this.result(reqId, ResultKind.OK, undefined);
    else this.whenSettled(waits.length === 1 ? waits[0]! : Promise.all(waits).then(noop), reqId);
  }

  /**
   * Answer settlement `reqId` when `done` settles. A broker with group commit hands every settlement of one
   * transaction the same promise (the embedded broker's next commit): those share one callback and one
   * array instead of two closures and a derived promise each.
   */
  private whenSettled(done: Promise<void>, reqId: number): void {
    if (done === this.settleWait) {
      this.settleIds.push(reqId);
      return;
    }
    const ids = [reqId];
    this.settleWait = done;
    this.settleIds = ids;
    done.then(
      () => {
        if (this.settleWait === done) this.settleWait = undefined;
        for (const id of ids) this.result(id, ResultKind.OK, undefined);
      },
      (error: unknown) => {
        if (this.settleWait === done) this.settleWait = undefined;
        for (const id of ids) this.result(id, ResultKind.ERROR, error);
      },
    );
  }

  private end(deliveryId: number, entry: Outstanding): void {
    this.outstanding.delete(deliveryId);
    entry.sub.returnCredit();
  }

  private async control(request: ControlRequest): Promise<unknown> {
    switch (request.op) {
      case 'subscribe':
        return this.subscribe(request);
      case 'unsubscribe': {
        const sub = this.subs.get(request.subId);
        if (sub === undefined) return undefined;
        this.subs.delete(request.subId);
        await sub.close();
        this.outstanding.deleteWhere((entry) => entry.sub === sub);
        return undefined;
      }
      case 'seek': {
        if (typeof this.broker.seek !== 'function') throw new TypeError(`broker ${this.broker.name} does not support seek`);
        await this.broker.seek(request.topic, request.group, request.position as StartPosition);
        return undefined;
      }
      case 'lag':
        return this.broker.lag(request.topic, request.group);
      default:
        throw new ProtocolError(`unknown request ${(request as { op?: unknown }).op as string}`);
    }
  }

  private async subscribe(request: Extract<ControlRequest, { op: 'subscribe' }>): Promise<undefined> {
    if (this.subs.has(request.subId)) throw new ProtocolError(`subscription ${request.subId} exists`);
    const sub = new ServedSubscription(request.subId, request.prefetch, this.forward);
    this.subs.set(request.subId, sub);
    const options = { group: request.group, prefetch: request.prefetch, leaseMs: request.leaseMs, start: request.start as StartPosition };
    const opening = this.broker.subscribe(request.topic, options, sub.handle).then((s) => {
      sub.subscription = s;
    });
    sub.opening = opening;
    try {
      await opening;
    } catch (error) {
      if (this.subs.get(request.subId) === sub) this.subs.delete(request.subId);
      throw error;
    }
    return undefined;
  }

  private readonly forward = (sub: ServedSubscription, delivery: Delivery): void => {
    if (this.closed) return;
    const id = this.outstanding.add({ delivery, sub });
    if (!(this.protocol >= 2 && this.forwardStored(sub.subId, id, delivery))) {
      encodeDeliver(this.framed.out, sub.subId, id, delivery.message);
    }
    this.framed.scheduleFlush();
  };

  /** DELIVER_ENTRY when the delivery carries its stored entry (see `encoded-entry.ts`); false when not. */
  private forwardStored(subId: number, deliveryId: number, delivery: Delivery): boolean {
    if (!carriesEncodedEntry(delivery)) return false;
    const stored = delivery[ENCODED_ENTRY]();
    if (stored === undefined) return false;
    encodeDeliverEntry(this.framed.out, subId, deliveryId, delivery.attempt, stored);
    return true;
  }

  private result(reqId: number, kind: number, value: unknown): void {
    if (this.closed) return;
    this.resultIds.push(reqId);
    this.resultKinds.push(kind);
    this.resultValues.push(value);
    this.framed.scheduleFlush();
  }

  private writeResults(): void {
    const count = this.resultIds.length;
    if (count === 0) return;
    const out = this.framed.out;
    out.begin(FrameType.RESULTS);
    out.u32(count);
    for (let i = 0; i < count; i++) encodeResult(out, this.resultIds[i]!, this.resultKinds[i]!, this.resultValues[i]);
    out.end();
    this.resultIds = [];
    this.resultKinds = [];
    this.resultValues = [];
  }

  private async teardown(): Promise<void> {
    this.closed = true;
    this.outstanding.clear();
    const subs = [...this.subs.values()];
    this.subs.clear();
    await Promise.all(subs.map((s) => s.close().catch(this.onError)));
    this.markEnded();
  }
}

function noop(): void {}
