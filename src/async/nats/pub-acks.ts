/**
 * JetStream publishes with Courier's own reply handling. A JetStream publish is a plain NATS publish with a
 * reply subject; the stream answers there with a PubAck (`{"stream","seq","duplicate"}`), an API error
 * (`{"error":{...}}`), or, when no stream captures the subject, a 503 "no responders" status.
 *
 * Why not `js.publish`: the client makes each publish a request with its own promise, timer, inbox-mux entry
 * and at least one Error object (it rejects the finished request's deferred with a fresh `RequestError`
 * even on success), which measured as a third of the adapter's publish CPU. Here every publish shares one
 * wildcard inbox subscription, a reply is matched by its token in a Map, and one interval timer sweeps
 * publishes that got no reply within `timeoutMs` (the Map is in send order and the timeout is the same for
 * all, so the sweep stops at the first one still in time).
 *
 * Errors: `PubAckTimeoutError` (no reply in time: the message may or may not be stored, so send it again
 * with the same `Nats-Msg-Id`, which JetStream deduplicates), `NoStreamError` (503), `JetStreamPublishError`
 * (the stream refused it: its description and codes). After a reconnect the client renews the inbox
 * subscription by itself; replies lost in the gap end as timeouts.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export class PubAckTimeoutError extends Error {
  override readonly name = 'PubAckTimeoutError';
  constructor(subject: string, timeoutMs: number) {
    super(`nats: no publish acknowledgement for ${subject} within ${timeoutMs} ms (timeout)`);
  }
}

export class NoStreamError extends Error {
  override readonly name = 'NoStreamError';
  constructor(subject: string) {
    super(`nats: no stream captures ${subject} (503 no responders)`);
  }
}

export class JetStreamPublishError extends Error {
  override readonly name = 'JetStreamPublishError';
  constructor(
    readonly description: string,
    readonly code: number | undefined,
    readonly errCode: number | undefined,
  ) {
    super(`nats: publish refused: ${description}`);
  }
}

export interface PubAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

interface Waiting {
  readonly subject: string;
  readonly sentAt: number;
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (error: Error) => void;
}

export class PubAcks {
  private readonly prefix: string;
  private readonly subscription: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (error, msg) => this.onReply(error, msg) });
  }

  /** Publish to `subject` and resolve with the stream's PubAck. */
  publish(subject: string, body: Uint8Array, headers: MsgHdrs): Promise<PubAck> {
    const token = (this.next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.nc.publish(subject, body, { reply: this.prefix + token, headers });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      this.waiting.set(token, { subject, sentAt: performance.now(), resolve, reject });
      this.sweeper ??= setInterval(this.sweep, Math.max(10, Math.floor(this.timeoutMs / 4)));
    });
  }

  /** Reject what is still waiting and stop listening. */
  close(reason: Error): void {
    this.subscription.unsubscribe();
    for (const w of this.waiting.values()) w.reject(reason);
    this.waiting.clear();
    this.stopSweeper();
  }

  private onReply(error: Error | null, msg: Msg): void {
    if (error !== null) return; // the subscription's own errors end with the connection; publishes time out
    const token = msg.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (w === undefined) return; // timed out already
    this.waiting.delete(token);
    if (this.waiting.size === 0) this.stopSweeper();
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      w.reject(new NoStreamError(w.subject));
      return;
    }
    let reply: { seq?: unknown; duplicate?: unknown; error?: { description?: unknown; code?: unknown; err_code?: unknown } };
    try {
      reply = msg.json();
    } catch {
      w.reject(new JetStreamPublishError(`unreadable reply ${JSON.stringify(msg.string().slice(0, 200))}`, undefined, undefined));
      return;
    }
    if (reply.error !== undefined) {
      const e = reply.error;
      w.reject(new JetStreamPublishError(typeof e.description === 'string' ? e.description : 'unknown error', numberOr(e.code), numberOr(e.err_code)));
    } else if (typeof reply.seq === 'number') {
      w.resolve({ seq: reply.seq, duplicate: reply.duplicate === true });
    } else {
      w.reject(new JetStreamPublishError(`reply without a sequence ${JSON.stringify(msg.string().slice(0, 200))}`, undefined, undefined));
    }
  }

  private readonly sweep = (): void => {
    const cutoff = performance.now() - this.timeoutMs;
    for (const [token, w] of this.waiting) {
      if (w.sentAt > cutoff) break;
      this.waiting.delete(token);
      w.reject(new PubAckTimeoutError(w.subject, this.timeoutMs));
    }
    if (this.waiting.size === 0) this.stopSweeper();
  };

  private stopSweeper(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
