/**
 * `remoteBroker({ socketPath } | { port })`: a `Broker` that is a client of a broker served by another
 * process on this machine (`serveBroker`). Same semantics as the served broker, whose name and feature
 * manifest it fetches when it connects; the wire protocol is in `protocol.ts`.
 *
 * ```ts
 * const broker = await remoteBroker({ socketPath: './data/broker.sock' });
 * await broker.publish('orders', { id, headers, body });
 * ```
 *
 * ## Speed
 * Publishes of one event-loop turn leave in one socket write, and the server answers a group commit with
 * one RESULTS frame; a publish costs no JSON. The acks of one turn travel as one ACKS frame and come back
 * as one result (protocol 2). At most `maxInFlight` publishes are unacknowledged at once
 * (the rest wait here, in order).
 *
 * ## Losing the server
 * The client reconnects by itself, with backoff (`reconnect`), for as long as it is open. Meanwhile:
 * - **Publishes in flight are retried, not failed.** Every publish not yet acknowledged when the connection
 *   dropped is sent again on the next connection, with the same message id, in its original order, before
 *   any newer publish. If the server had stored it before it died, it is stored twice unless the served
 *   broker drops duplicate ids (`features.dedup`): at-least-once, never lost. `seek` and `lag` are retried
 *   the same way.
 * - Operations wait at most `unavailableTimeoutMs` for the server: then every waiting publish and request
 *   fails with `RemoteBrokerUnavailableError` (retryable; it may or may not have been stored) and new ones
 *   fail at once, until the server is back.
 * - Subscriptions stay: the server released their unsettled deliveries to the group when the connection
 *   died (delivered again, attempt + 1), settling those later is a no-op, and the client subscribes again on
 *   the next connection.
 *
 * The client keeps the process alive while it has subscriptions or operations waiting, and not otherwise.
 */
import { sleep, systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import { backoffDelay } from '../../policies/backoff.js';
import { checkName, checkOutgoing, resolveSubscribeOptions } from '../adapter-kit/options.js';
import type {
  Broker,
  BrokerFeatures,
  DeliveryHandler,
  Lag,
  OutgoingMessage,
  PublishReceipt,
  StartPosition,
  SubscribeOptions,
  Subscription,
} from '../broker.js';
import { describeAddress } from './address.js';
import { ClientLink } from './client-link.js';
import { Fifo } from './fifo.js';
import type { Cursor } from './frame-decoder.js';
import { FrameEncoder } from './frame-encoder.js';
import { decodeDeliver, decodeDeliverEntry, decodeResult, encodeAcks, encodePublish, encodeRequest, encodeSettle } from './message-codec.js';
import type { AfterDisconnect, PendingOp } from './pending-op.js';
import { asError, ProtocolError, RemoteBrokerUnavailableError } from './remote-errors.js';
import { resolveRemoteOptions, type RemoteBrokerOptions, type ResolvedRemoteOptions } from './remote-options.js';
import { RemoteSubscription, type RemoteRaw, type SubscriptionHost } from './remote-subscription.js';
import { FrameType, SettleOp } from './protocol.js';

/** Connect to a broker server; resolves once connected (features known), or rejects after `connectTimeoutMs`. */
export async function remoteBroker(options: RemoteBrokerOptions): Promise<RemoteBroker> {
  const resolved = resolveRemoteOptions(options);
  const clock = options.clock ?? systemClock;
  const onError = options.onError ?? reportError;
  const handle = new LinkRouter();
  const deadline = Date.now() + resolved.connectTimeoutMs;
  let attempt = 0;
  let previous = resolved.baseMs;
  for (;;) {
    try {
      const link = await ClientLink.open(resolved.address, handle, resolved.protocol);
      return new RemoteBroker(resolved, clock, onError, handle, link);
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new RemoteBrokerUnavailableError(`no broker server at ${describeAddress(resolved.address)}`, { cause: error });
      }
      previous = backoffDelay(++attempt, previous, { baseMs: resolved.baseMs, maxMs: resolved.maxMs, jitter: 'decorrelated', random: resolved.random });
      await new Promise((resolve) => setTimeout(resolve, Math.min(previous, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** Routes a link's frames to the broker that owns it (set once the broker exists). */
class LinkRouter {
  target: RemoteBroker | undefined;
  onFrame(link: ClientLink, type: number, cursor: Cursor): void {
    this.target?.onFrame(link, type, cursor);
  }
  onClose(link: ClientLink, _error: Error | undefined): void {
    this.target?.onLinkDown(link);
  }
  beforeFlush(link: ClientLink): void {
    this.target?.writeAcks(link);
  }
}

/**
 * The acks handlers gave in this event-loop turn, not yet written: one ACKS frame (protocol 2) and one
 * result for all of them. Written right before the link's next write, and before any other frame is
 * encoded after them, so settlements and requests keep their order on the wire (an unsubscribe never
 * overtakes the acks given before it).
 */
interface AckBatch {
  readonly link: ClientLink;
  readonly ids: number[];
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** An ACKS frame is written early once it lists this many deliveries. */
const MAX_ACKS_PER_FRAME = 4096;

export class RemoteBroker implements Broker, SubscriptionHost {
  readonly name = 'remote';
  readonly features: BrokerFeatures;
  /** The served broker's name (e.g. `embedded`). */
  readonly servedName: string;
  /** Present when the served broker has `seek`. */
  readonly seek?: (topic: string, group: string, position: StartPosition) => Promise<void>;

  private link: ClientLink | undefined;
  private readonly inflight = new Map<number, PendingOp>();
  private inflightPublishes = 0;
  private readonly queued = new Fifo<PendingOp>();
  /** Encodes frames that cannot go out now (kept until they can). */
  private readonly stash = new FrameEncoder();
  private readonly subs = new Map<number, RemoteSubscription>();
  private acks: AckBatch | undefined;
  private nextReqId = 0;
  private nextSubId = 0;
  private unavailable = false;
  private outageTimer: TimerHandle | undefined;
  private reconnecting = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  /** @internal Use `remoteBroker()`. */
  constructor(
    private readonly options: ResolvedRemoteOptions,
    readonly clock: Clock,
    readonly onError: (error: unknown) => void,
    router: LinkRouter,
    link: ClientLink,
  ) {
    router.target = this;
    this.link = link;
    this.features = Object.freeze({ ...link.welcome.features });
    this.servedName = link.welcome.name;
    if (link.welcome.seek) {
      this.seek = (topic, group, position) => {
        if (this.closing) return Promise.reject(new ClosedError('remote broker'));
        try {
          checkName(topic, 'topic');
          checkName(group, 'group');
        } catch (error) {
          return Promise.reject(asError(error));
        }
        return this.request({ op: 'seek', topic, group, position }, 'resend').then(() => undefined);
      };
    }
  }

  /** Connected to the server right now. */
  get connected(): boolean {
    return this.link !== undefined;
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closing) return Promise.reject(new ClosedError('remote broker'));
    if (this.unavailable) return Promise.reject(new RemoteBrokerUnavailableError());
    try {
      checkOutgoing(topic, message, this.features.maxMessageBytes);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return new Promise<PublishReceipt>((resolve, reject) => {
      const id = message.id;
      const op: PendingOp = {
        reqId: this.reqId(),
        afterDisconnect: 'resend',
        isPublish: true,
        frame: undefined,
        done: (sequence) => resolve(sequence === undefined ? { id } : { id, sequence: sequence as number | bigint }),
        fail: reject,
      };
      const link = this.link;
      try {
        if (link !== undefined && this.queued.length === 0 && this.inflightPublishes < this.options.maxInFlight) {
          this.writeAcks(link);
          op.frame = encodePublish(link.framed.out, op.reqId, topic, message);
          this.sent(op);
          link.framed.scheduleFlush();
        } else {
          op.frame = encodePublish(this.stash, op.reqId, topic, message);
          this.stash.take();
          this.queued.push(op);
        }
      } catch (error) {
        reject(asError(error));
        return;
      }
      this.refreshKeepAlive();
    });
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closing) throw new ClosedError('remote broker');
    const resolved = resolveSubscribeOptions(topic, options, handler);
    if (this.unavailable) throw new RemoteBrokerUnavailableError();
    const sub = new RemoteSubscription(this, ++this.nextSubId, topic, resolved, handler);
    this.subs.set(sub.subId, sub);
    this.refreshKeepAlive();
    if (this.link !== undefined) sub.establish();
    await sub.opened;
    return sub;
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closing) throw new ClosedError('remote broker');
    checkName(topic, 'topic');
    checkName(group, 'group');
    return (await this.request({ op: 'lag', topic, group }, 'resend')) as Lag;
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  // ---- SubscriptionHost ----

  /** @internal */
  control(request: object, afterDisconnect: 'drop' | 'resolve'): Promise<unknown> {
    return this.request(request, afterDisconnect);
  }

  /** @internal */
  settle(raw: RemoteRaw, op: SettleOp, ms: number): Promise<void> {
    const link = this.link;
    if (link !== raw.link || !link.isOpen) return Promise.resolve(); // released by the server already
    if (op === SettleOp.ACK && link.welcome.protocol >= 2) return this.batchAck(link, raw.deliveryId);
    this.writeAcks(link);
    return new Promise<void>((resolve, reject) => {
      const pending: PendingOp = { reqId: this.reqId(), afterDisconnect: 'resolve', isPublish: false, frame: undefined, done: () => resolve(), fail: reject };
      encodeSettle(link.framed.out, pending.reqId, raw.deliveryId, op, ms);
      this.sent(pending);
      link.framed.scheduleFlush();
    });
  }

  /** Join this turn's ACKS frame; resolves when the server stored every ack of the frame. */
  private batchAck(link: ClientLink, deliveryId: number): Promise<void> {
    let batch = this.acks;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { link, ids: [], promise, resolve, reject };
      this.acks = batch;
      link.framed.scheduleFlush();
    }
    batch.ids.push(deliveryId);
    const { promise } = batch;
    if (batch.ids.length >= MAX_ACKS_PER_FRAME) this.writeAcks(link);
    return promise;
  }

  /** @internal Encode the pending ACKS frame on `link` (the link about to write, or to get another frame). */
  writeAcks(link: ClientLink): void {
    const batch = this.acks;
    if (batch === undefined || batch.link !== link) return;
    this.acks = undefined;
    const op: PendingOp = { reqId: this.reqId(), afterDisconnect: 'resolve', isPublish: false, frame: undefined, done: batch.resolve, fail: batch.reject };
    encodeAcks(link.framed.out, op.reqId, batch.ids);
    this.sent(op);
  }

  /** @internal */
  forget(subscription: RemoteSubscription): void {
    if (this.subs.get(subscription.subId) === subscription) this.subs.delete(subscription.subId);
    this.refreshKeepAlive();
  }

  // ---- frames and connection state ----

  /** @internal */
  onFrame(link: ClientLink, type: number, c: Cursor): void {
    if (link !== this.link) return;
    switch (type) {
      case FrameType.RESULTS:
        this.onResults(c);
        return;
      case FrameType.DELIVER:
      case FrameType.DELIVER_ENTRY: {
        const decoded = type === FrameType.DELIVER ? decodeDeliver(c, this.topicOf) : decodeDeliverEntry(c, this.topicOf);
        if (decoded !== undefined) this.subs.get(decoded.subId)!.deliver(decoded.message, { deliveryId: decoded.deliveryId, link });
        return;
      }
      default:
        throw new ProtocolError(`unexpected frame type ${type}`);
    }
  }

  private readonly topicOf = (subId: number): string | undefined => this.subs.get(subId)?.topic;

  private onResults(c: Cursor): void {
    const count = c.u32();
    for (let i = 0; i < count; i++) {
      const { reqId, ok, value } = decodeResult(c);
      const op = this.inflight.get(reqId);
      if (op === undefined) continue;
      this.inflight.delete(reqId);
      if (op.isPublish) this.inflightPublishes--;
      if (ok) op.done(value);
      else op.fail(value as Error);
    }
    this.drainQueue();
    this.refreshKeepAlive();
  }

  /** @internal The connection is gone: keep what must be resent, release deliveries, reconnect. */
  onLinkDown(link: ClientLink): void {
    if (link !== this.link) return;
    this.link = undefined;
    // Acks not written yet: the server released those deliveries with the connection (a no-op, as for
    // settlements in flight below).
    const acks = this.acks;
    this.acks = undefined;
    acks?.resolve();
    const resend: PendingOp[] = [];
    for (const op of this.inflight.values()) {
      if (op.afterDisconnect === 'resend') resend.push(op);
      else if (op.afterDisconnect === 'resolve') op.done(undefined);
    }
    this.inflight.clear();
    this.inflightPublishes = 0;
    this.queued.unshiftAll(resend);
    for (const sub of this.subs.values()) sub.linkLost(link);
    if (this.closed) return;
    this.outageTimer ??= this.clock.setTimeout(() => this.onOutage(), this.options.unavailableTimeoutMs);
    void this.reconnect();
    this.refreshKeepAlive();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let attempt = 0;
    let previous = this.options.baseMs;
    const router = new LinkRouter();
    try {
      while (!this.closed && this.link === undefined) {
        previous = backoffDelay(++attempt, previous, {
          baseMs: this.options.baseMs,
          maxMs: this.options.maxMs,
          jitter: 'decorrelated',
          random: this.options.random,
        });
        await sleep(attempt === 1 ? 0 : previous, this.clock);
        if (this.closed) return;
        let link: ClientLink;
        try {
          link = await ClientLink.open(this.options.address, router, this.options.protocol);
        } catch {
          continue;
        }
        if (this.closed) {
          link.close();
          return;
        }
        router.target = this;
        this.onLinkUp(link);
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private onLinkUp(link: ClientLink): void {
    if (link.welcome.name !== this.servedName) {
      this.onError(new ProtocolError(`the server now serves broker "${link.welcome.name}", was "${this.servedName}"`));
    }
    this.link = link;
    this.unavailable = false;
    if (this.outageTimer !== undefined) this.clock.clearTimeout(this.outageTimer);
    this.outageTimer = undefined;
    for (const sub of this.subs.values()) if (sub.active) sub.establish();
    this.drainQueue();
  }

  /** No connection for `unavailableTimeoutMs`: fail what waits, and new work until the server is back. */
  private onOutage(): void {
    this.outageTimer = undefined;
    if (this.link !== undefined) return;
    this.unavailable = true;
    const error = (): RemoteBrokerUnavailableError =>
      new RemoteBrokerUnavailableError(`no connection to the broker server at ${describeAddress(this.options.address)} for ${this.options.unavailableTimeoutMs} ms`);
    for (const op of this.queued.drain()) op.fail(error());
    for (const sub of [...this.subs.values()]) sub.failOpen(error());
    this.refreshKeepAlive();
  }

  /** Send a control request now, or queue it (`resend`), or settle it at once when there is no connection. */
  private request(request: object, afterDisconnect: AfterDisconnect): Promise<unknown> {
    if (this.unavailable && afterDisconnect === 'resend') return Promise.reject(new RemoteBrokerUnavailableError());
    const link = this.link;
    if (link === undefined && afterDisconnect === 'resolve') return Promise.resolve(undefined);
    // Subscriptions subscribe only on a live connection (and again on each new one), never from the queue.
    if (link === undefined && afterDisconnect === 'drop') return Promise.reject(new RemoteBrokerUnavailableError());
    return new Promise<unknown>((resolve, reject) => {
      const op: PendingOp = { reqId: this.reqId(), afterDisconnect, isPublish: false, frame: undefined, done: resolve, fail: reject };
      if (link !== undefined && (this.queued.length === 0 || afterDisconnect !== 'resend')) {
        this.writeAcks(link);
        op.frame = encodeRequest(link.framed.out, op.reqId, request);
        this.sent(op);
        link.framed.scheduleFlush();
      } else {
        op.frame = encodeRequest(this.stash, op.reqId, request);
        this.stash.take();
        this.queued.push(op);
      }
      this.refreshKeepAlive();
    });
  }

  private sent(op: PendingOp): void {
    this.inflight.set(op.reqId, op);
    if (op.isPublish) this.inflightPublishes++;
  }

  /** Send queued operations, in order, as far as the connection and `maxInFlight` allow. */
  private drainQueue(): void {
    const link = this.link;
    if (link === undefined || this.queued.length === 0) return;
    let sentAny = false;
    this.writeAcks(link);
    for (let op = this.queued.peek(); op !== undefined; op = this.queued.peek()) {
      if (op.isPublish && this.inflightPublishes >= this.options.maxInFlight) break;
      this.queued.shift();
      link.framed.out.raw(op.frame!);
      this.sent(op);
      sentAny = true;
    }
    if (sentAny) link.framed.scheduleFlush();
  }

  private reqId(): number {
    this.nextReqId = (this.nextReqId + 1) >>> 0;
    return this.nextReqId;
  }

  private get busy(): boolean {
    return this.subs.size > 0 || this.inflight.size > 0 || this.queued.length > 0;
  }

  /** Hold the process open exactly while there is work (the socket itself is unref'd). */
  private refreshKeepAlive(): void {
    const busy = this.busy;
    if (busy && this.keepAlive === undefined) this.keepAlive = setInterval(noop, 1 << 30);
    else if (!busy && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
    if (!busy && this.drained !== undefined) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.subs.values()].map((s) => s.close()));
    if (this.busy) await new Promise<void>((resolve) => (this.drained = resolve));
    this.closed = true;
    if (this.outageTimer !== undefined) this.clock.clearTimeout(this.outageTimer);
    this.outageTimer = undefined;
    const link = this.link;
    this.link = undefined;
    link?.close();
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }
}

function noop(): void {}

function reportError(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'COURIER_REMOTE_BROKER' });
}
