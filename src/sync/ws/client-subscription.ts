import type { EventDef, EventPayload } from '../../core/contract.js';
import { newId } from '../../core/ids.js';
import type { GapFrame, GapReason, PushFrame, PushedEvent } from './frames.js';

/**
 * One subscription on the client: delivers pushes to the handler in sequence order, one at a time, and
 * acknowledges them; survives reconnects (the transport resends `subFrame()` on every new connection).
 *
 * Contract:
 * - the handler sees each push at most once per client, in sequence order; a push is acknowledged after
 *   the handler's promise settles (if it throws, `onError` is told and the push still counts as handled:
 *   redelivery is the handler's own business);
 * - acknowledgements are cumulative and coalesced: one `ack` frame per event-loop turn at most;
 * - after a reconnect the subscription resumes with `after` = the last seq acknowledged and `seen` = the
 *   last received (pushes received but not yet handled stay queued here and are handled in order); pushes
 *   the server resends anyway are dropped by sequence number;
 * - a gap is never silent: a `gap` frame from the server (pushes evicted by retention, or a server that
 *   no longer knew the subscription) is handed to `onGap` in stream order, then acknowledged. A hole in the
 *   numbering without a gap frame (a server bug) is reported the same way.
 */
export interface PushGap {
  /** The subscription. */
  readonly sid: string;
  /** First lost sequence number. */
  readonly from: number;
  /** Last lost sequence number; undefined when the server cannot tell how many were lost. */
  readonly to: number | undefined;
  readonly reason: GapReason;
}

/** What a handler receives beside the data: the event's CloudEvents attributes and its sequence number. */
export interface PushContext extends PushedEvent {
  readonly seq: number;
  readonly sid: string;
}

export type PushHandler<E extends EventDef> = (data: EventPayload<E>, push: PushContext) => void | Promise<void>;

export interface SubscribeOptions {
  /** Only pushes whose CloudEvents `subject` is one of these. Default: every subject. */
  readonly subjects?: readonly string[];
  /** Told about lost pushes. Default: a process warning. */
  readonly onGap?: (gap: PushGap) => void;
  /** Told when the handler throws (the push is acknowledged all the same). Default: a process warning. */
  readonly onError?: (error: unknown, push: PushContext) => void;
}

/** What the subscription needs from its transport. */
export interface SubscriptionLink {
  /** Send a frame if connected; false when not (the next connection resumes instead). */
  sendIfOpen(frame: string): boolean;
  forget(sub: WsSubscription): void;
}

type Item = { readonly push: PushFrame } | { readonly gap: PushGap };

export class WsSubscription<E extends EventDef = EventDef> {
  readonly sid = newId();
  readonly types: readonly string[];
  /** Last sequence number handled and acknowledged. */
  lastAcked = 0;
  /** Last sequence number received (or reported lost). */
  lastSeen = 0;
  /** Pushes handled, over the subscription's life. */
  delivered = 0;
  private lastAckSent = 0;
  private ackScheduled = false;
  private readonly queue: Item[] = [];
  private running = false;
  private closed = false;
  private readyResolve!: () => void;
  private readyReject!: (error: unknown) => void;
  /** Settles when the server first confirmed the subscription (or the transport closed first). */
  readonly ready: Promise<void>;

  constructor(
    private readonly link: SubscriptionLink,
    events: readonly E[],
    private readonly handler: PushHandler<E>,
    private readonly options: SubscribeOptions,
  ) {
    this.types = [...new Set(events.map((e) => e.type))];
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // A caller that never awaits `ready` must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Pushes received and not yet handled. */
  get pending(): number {
    return this.queue.length;
  }

  /** The frame that (re)subscribes on a new connection; it also acknowledges up to `lastAcked`. */
  subFrame(): string {
    this.lastAckSent = this.lastAcked;
    const frame: Record<string, unknown> = { t: 'sub', sid: this.sid, types: this.types, after: this.lastAcked, seen: this.lastSeen };
    if (this.options.subjects !== undefined) frame['subjects'] = this.options.subjects;
    return JSON.stringify(frame);
  }

  onSubOk(): void {
    this.readyResolve();
  }

  onPush(frame: PushFrame): void {
    if (this.closed) return;
    if (frame.seq <= this.lastSeen) {
      // Resent after a reconnect, or a duplicate: already held or handled. Re-acknowledge if handled.
      if (frame.seq <= this.lastAcked) this.scheduleAck(true);
      return;
    }
    if (frame.seq !== this.lastSeen + 1) {
      this.queue.push({ gap: { sid: this.sid, from: this.lastSeen + 1, to: frame.seq - 1, reason: 'retention' } });
    }
    this.lastSeen = frame.seq;
    this.queue.push({ push: frame });
    this.run();
  }

  onGap(frame: GapFrame): void {
    if (this.closed) return;
    if (frame.to !== null) {
      if (frame.to <= this.lastSeen) return;
      this.lastSeen = frame.to;
    }
    this.queue.push({ gap: { sid: this.sid, from: frame.from, to: frame.to ?? undefined, reason: frame.reason } });
    this.run();
  }

  /** The transport closed for good before the server confirmed. */
  fail(error: unknown): void {
    this.closed = true;
    this.queue.length = 0;
    this.readyReject(error);
  }

  /** Unsubscribe: the server forgets the subscription; queued pushes are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.link.sendIfOpen(JSON.stringify({ t: 'unsub', sid: this.sid }));
    this.link.forget(this);
  }

  private run(): void {
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      for (let item = this.queue.shift(); item !== undefined && !this.closed; item = this.queue.shift()) {
        if ('gap' in item) {
          this.report(item.gap);
          if (item.gap.to !== undefined) this.lastAcked = Math.max(this.lastAcked, item.gap.to);
        } else {
          const { push } = item;
          const ctx: PushContext = { ...push.ev, seq: push.seq, sid: this.sid };
          try {
            await this.handler(push.data as EventPayload<E>, ctx);
          } catch (error) {
            this.handlerFailed(error, ctx);
          }
          this.delivered++;
          this.lastAcked = push.seq;
        }
        this.scheduleAck(false);
      }
    } finally {
      this.running = false;
    }
  }

  private scheduleAck(force: boolean): void {
    if (force) this.lastAckSent = Math.min(this.lastAckSent, this.lastAcked - 1);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      if (this.closed || this.lastAcked <= this.lastAckSent) return;
      if (this.link.sendIfOpen(`{"t":"ack","sid":${JSON.stringify(this.sid)},"seq":${this.lastAcked}}`)) {
        this.lastAckSent = this.lastAcked;
      }
    });
  }

  private report(gap: PushGap): void {
    try {
      if (this.options.onGap !== undefined) this.options.onGap(gap);
      else {
        process.emitWarning(
          `courier/ws: pushes ${gap.from}..${gap.to ?? '?'} of subscription ${gap.sid} were lost (${gap.reason})`,
          'CourierPushGap',
        );
      }
    } catch {
      // A throwing gap listener must not stop delivery.
    }
  }

  private handlerFailed(error: unknown, push: PushContext): void {
    try {
      if (this.options.onError !== undefined) this.options.onError(error, push);
      else process.emitWarning(`courier/ws: push handler for ${push.type} failed: ${String(error)}`, 'CourierPushHandler');
    } catch {
      // as above
    }
  }
}
