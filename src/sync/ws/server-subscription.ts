import { PushLog } from './push-log.js';

/**
 * One subscription on the server: its filter, its retained pushes (`PushLog`), how far the client has
 * acknowledged and how far this connection has been sent. It outlives the connection that made it, so a
 * client that reconnects resumes where it left off.
 *
 * Protocol (client side: `client-subscription.ts`):
 * - each push carries the subscription's next sequence number; the client handles pushes in order and
 *   acknowledges cumulatively (`ack seq` = everything up to `seq` is handled); acknowledged pushes are
 *   forgotten at once;
 * - unacknowledged pushes are kept within retention (count and age, `push-log.ts`); while the client is
 *   away (detached) publishes keep landing here, within the same retention;
 * - a client resuming sends `after` (the last seq it acknowledged) and `seen` (the last it received; it
 *   still holds the ones in between and will acknowledge them). Sending restarts at `seen + 1`;
 * - before sending seq `n` when pushes before `n` that the client has not seen were evicted, the server
 *   sends `gap { from, to }` first. A gap is never silent: it is a frame, and the client reports it;
 * - a resume for a subscription the server does not know (it restarted, or the subscription expired after
 *   `detachedTtlMs` without a client) continues numbering at `seen + 1` and announces
 *   `gap { from: seen + 1, to: null, reason: 'unknown-subscription' }`: how much was lost is unknown.
 *
 * Backpressure (the policy): per subscription at most `maxInFlight` pushes are sent and not yet
 * acknowledged, and nothing is sent while the connection's `bufferedAmount` is above its high-water mark.
 * A consumer slower than the publish rate therefore costs the server at most `maxCount` retained pushes
 * per subscription (plus a bounded socket buffer); beyond that the oldest are evicted and the consumer
 * gets a gap. The publisher is never slowed down by a subscriber.
 */
export interface PushChannel {
  /** True while the connection's send buffer is above its high-water mark; it pumps again when it drains. */
  readonly blocked: boolean;
  send(frame: string): void;
}

export interface SubscriptionLimits {
  readonly maxCount: number;
  readonly maxAgeMs: number;
  readonly maxInFlight: number;
}

export interface SubscriptionStats {
  readonly sid: string;
  readonly attached: boolean;
  /** Pushes held: not acknowledged, within retention. */
  readonly retained: number;
  /** Pushes sent on the current connection and not acknowledged. */
  readonly inFlight: number;
  readonly lastSeq: number;
  readonly ackedThrough: number;
  /** Push frames sent, over the subscription's life. */
  readonly sent: number;
  /** Pushes lost to retention (reported as gaps or still to be reported). */
  readonly evicted: number;
}

export class ServerSubscription {
  readonly sidJson: string;
  readonly log: PushLog;
  ackedThrough: number;
  /** The next sequence number to send on the attached connection. */
  private nextSend: number;
  private channel: PushChannel | undefined;
  /** When the last connection went away (epoch ms); undefined while attached. */
  detachedAt: number | undefined;
  private sent = 0;
  private evicted = 0;

  constructor(
    readonly sid: string,
    public types: ReadonlySet<string>,
    public subjects: ReadonlySet<string> | undefined,
    private readonly limits: SubscriptionLimits,
    lastSeq: number,
    now: number,
  ) {
    this.sidJson = JSON.stringify(sid);
    this.log = new PushLog(lastSeq);
    this.ackedThrough = lastSeq;
    this.nextSend = lastSeq + 1;
    this.detachedAt = now;
  }

  get attachedTo(): PushChannel | undefined {
    return this.channel;
  }

  matches(type: string, subject: string | undefined): boolean {
    return this.types.has(type) && (this.subjects === undefined || (subject !== undefined && this.subjects.has(subject)));
  }

  /** A publish for this subscription: retain it, apply retention, send what the limits allow. */
  offer(now: number, tail: string): void {
    this.log.append(now, tail);
    this.evicted += this.log.evict(now, this.limits.maxCount, this.limits.maxAgeMs);
    this.pump();
  }

  /** Bind to a connection; the client acknowledged up to `after` and holds everything up to `seen`. */
  attach(channel: PushChannel, after: number, seen: number): void {
    this.channel = channel;
    this.detachedAt = undefined;
    const last = this.log.lastSeq;
    this.ack(Math.min(after, last), false);
    this.nextSend = Math.max(Math.min(seen, last), this.ackedThrough) + 1;
  }

  detach(now: number): void {
    this.channel = undefined;
    this.detachedAt = now;
  }

  /** Cumulative acknowledgement. Values beyond the last push sent are clamped (a confused client). */
  ack(seq: number, pump = true): void {
    const upTo = Math.min(seq, Math.max(this.nextSend - 1, this.ackedThrough));
    if (upTo > this.ackedThrough) {
      this.ackedThrough = upTo;
      this.log.dropThrough(upTo);
    }
    if (pump) this.pump();
  }

  /** Age-based retention, run by the server's sweep. */
  expire(now: number): void {
    const n = this.log.evict(now, this.limits.maxCount, this.limits.maxAgeMs);
    if (n > 0) {
      this.evicted += n;
      this.pump();
    }
  }

  /** Send as much as the in-flight bound and the connection's buffer allow. */
  pump(): void {
    const ch = this.channel;
    if (ch === undefined) return;
    const log = this.log;
    while (!ch.blocked && this.nextSend <= log.lastSeq && this.nextSend - 1 - this.ackedThrough < this.limits.maxInFlight) {
      const first = log.first;
      if (this.nextSend < first) {
        ch.send(`{"t":"gap","sid":${this.sidJson},"from":${this.nextSend},"to":${first - 1},"reason":"retention"}`);
        this.nextSend = first;
        continue;
      }
      const entry = log.get(this.nextSend)!;
      ch.send(`{"t":"push","sid":${this.sidJson},"seq":${entry.seq},${entry.tail}`);
      this.nextSend++;
      this.sent++;
    }
  }

  stats(): SubscriptionStats {
    return {
      sid: this.sid,
      attached: this.channel !== undefined,
      retained: this.log.size,
      inFlight: this.channel === undefined ? 0 : this.nextSend - 1 - this.ackedThrough,
      lastSeq: this.log.lastSeq,
      ackedThrough: this.ackedThrough,
      sent: this.sent,
      evicted: this.evicted,
    };
  }
}
