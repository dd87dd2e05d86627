/**
 * Acks of one channel, coalesced: the acks of one event-loop turn go out at the next `setImmediate`, and
 * the longest run of settled deliveries from the oldest outstanding one is acknowledged with ONE
 * `basic.ack(multiple)` for the newest of them. Acks outside that run (a later delivery settled while an
 * older one is still being handled) go one by one.
 *
 * Why: RabbitMQ is the bottleneck of a persistent, confirmed, acked flow on these machines (the client
 * idles half the time), and one multiple-ack costs the broker far less than one ack per message.
 *
 * Correctness: a multiple-ack for tag T acknowledges every *outstanding* delivery up to T, so it is sent
 * only for a run in which every delivery is settled: acked through here, or settled another way (nacked by
 * the caller, which reports it with `settledElsewhere`). Deliveries arrive on a channel in increasing tag
 * order (`received`). The run is tracked in arrival order; entries stay until every older one is settled,
 * so a delivery held for long keeps the (settled) entries after it, at most its lease × the delivery rate.
 * A channel that closes takes its unacknowledged deliveries with it (the broker requeues them), so a
 * coalescer is per channel and simply dropped with it.
 */
import type { Channel, ConsumeMessage } from 'amqplib';

const OUTSTANDING = 0;
const ACK_WANTED = 1;
const DONE = 2;

export interface AckEntry {
  readonly msg: ConsumeMessage;
  state: number;
}

export class AckCoalescer {
  private queue: AckEntry[] = [];
  private head = 0;
  private marked: AckEntry[] = [];
  private scheduled = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly ch: Channel) {}

  /** A delivery arrived (in tag order); returns its entry for `ack` / `settledElsewhere`. */
  received(msg: ConsumeMessage): AckEntry {
    const entry: AckEntry = { msg, state: OUTSTANDING };
    this.queue.push(entry);
    return entry;
  }

  /** Ack `entry` with the next flush; resolves once its ack was handed to the channel. */
  ack(entry: AckEntry): Promise<void> {
    if (entry.state !== OUTSTANDING) return Promise.resolve();
    entry.state = ACK_WANTED;
    this.marked.push(entry);
    this.arm();
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** `entry` was settled without an ack through here (nacked by the caller). */
  settledElsewhere(entry: AckEntry): void {
    if (entry.state !== OUTSTANDING) return;
    entry.state = DONE;
    // It may complete a run of acks waiting behind it.
    if (this.marked.length > 0) this.arm();
  }

  /** Send what is waiting now (before the channel is closed). */
  readonly flush = (): void => {
    this.scheduled = false;
    let last: ConsumeMessage | undefined;
    const queue = this.queue;
    let head = this.head;
    while (head < queue.length && queue[head]!.state !== OUTSTANDING) {
      const entry = queue[head]!;
      if (entry.state === ACK_WANTED) last = entry.msg;
      entry.state = DONE;
      head++;
    }
    this.head = head;
    if (head > 1024 && head * 2 > queue.length) {
      this.queue = queue.slice(head);
      this.head = 0;
    }
    try {
      if (last !== undefined) this.ch.ack(last, true);
      for (const entry of this.marked) {
        if (entry.state !== ACK_WANTED) continue; // covered by the multiple-ack
        entry.state = DONE;
        this.ch.ack(entry.msg);
      }
    } catch {
      // The channel is gone: the broker requeues what it did not get acks for (at-least-once).
    }
    this.marked = [];
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  };

  private arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }
}
