/**
 * One consumer group on one topic: its position in the log, its in-memory window and its dispatcher.
 *
 * The **window** holds the messages the group has taken from the log (sequence < `cursor`) and not acked
 * yet, each in one state: ready, in flight (leased to a subscriber), held back behind an earlier message
 * of the same key, or waiting for a time (a delay or a nack's delay). The window is bounded
 * (`windowLimit`); when it is full the group stops taking from the log, so memory does not depend on the
 * backlog. Unkeyed messages that must wait while the window is more than half full are spilled to the
 * `parked` table and come back when due, so a mass of delayed messages cannot stall the group.
 *
 * The group takes messages in two ways: committed publishes are offered straight from memory when the
 * group is caught up (`offer`: no disk read on the hot path), and a group that fell behind reads pages from
 * disk (`fill`) only when a subscriber has room, so the read-ahead never exceeds one page beyond what the
 * subscribers can take.
 *
 * Persistence: `snapshot()` encodes the cursor and the unacked window (with delivery counts) for the
 * writer, which stores it with the next commit. Everything below the cursor that is neither in the window
 * nor parked has been acked. Leases are not stored: after a restart every unacked message is ready again.
 * Delivery counts are written lazily (with the next settlement), so a crash may under-count deliveries
 * made in the last moments before it.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { delayOf } from '../adapter-kit/options.js';
import type { Lag } from '../broker.js';
import { LoggedMessage, type StoredMessage } from './batch-codec.js';
import { EntryList, type Linked } from './entry-list.js';
import type { LogReader } from './log-reader.js';
import type { ResolvedTuning } from './options.js';
import { Queue } from './queue.js';
import type { EmbeddedBrokerStats } from './stats.js';
import { Timeline } from './timeline.js';
import type { TopicState } from './topic-state.js';
import { encodeUnsettled, type UnsettledEntry } from './window-codec.js';
import type { CommitWriter, DirtyGroup } from './writer.js';

const READY = 0;
const IN_FLIGHT = 1;
const HELD = 2;
const WAITING = 3;
const GONE = 4;
type EntryState = typeof READY | typeof IN_FLIGHT | typeof HELD | typeof WAITING | typeof GONE;

/** A message in a group's window. */
export class Entry implements UnsettledEntry, Linked<Entry> {
  state: EntryState = READY;
  /** Bumped on every delivery and every settlement/expiry, so an old `Delivery` can no longer settle. */
  token = 0;
  leaseUntil = 0;
  due = 0;
  subscriber: Subscriber | undefined;
  /** Neighbours in the window's `EntryList`. */
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;

  constructor(
    readonly message: StoredMessage,
    public deliveries: number,
  ) {}

  get seq(): number {
    return this.message.seq;
  }
}

/** What the group needs from a subscription. */
export interface Subscriber {
  readonly prefetch: number;
  readonly leaseMs: number;
  unsettled: number;
  /** Deliver `entry` (its message, `entry.deliveries` as the attempt); `token` identifies this delivery. */
  deliver(entry: Entry, token: number): void;
}

export interface GroupContext {
  readonly clock: Clock;
  readonly reader: LogReader;
  readonly writer: CommitWriter;
  readonly tuning: ResolvedTuning;
  readonly stats: EmbeddedBrokerStats;
  readonly parkedQueries: ParkedQueries;
  /** Errors no caller can receive (a failed disk read while dispatching). */
  readonly onError: (error: unknown) => void;
}

export interface ParkedQueries {
  due(groupId: number, now: number, limit: number): { seq: number; deliveries: number }[];
  /** Earliest due time among parked rows due after `after`, or undefined. */
  nextDue(groupId: number, after: number): number | undefined;
  count(groupId: number): number;
  minSeq(groupId: number): number | undefined;
}

/** A timeline item: an entry whose lease or wait may be over, or `null` for "parked messages may be due". */
type TimelineEvent = Entry | null;

/** Deliveries per dispatch turn before yielding to the event loop. */
const MAX_DELIVERIES_PER_TURN = 2048;
/** After a dispatch error (e.g. a failed disk read), try again this much later. */
const RETRY_AFTER_ERROR_MS = 1000;

export class GroupRuntime implements DirtyGroup {
  cursor: number;
  private readonly entries = new EntryList<Entry>();
  /** Redeliveries, released key successors and due messages: served before fresh ones. */
  private readonly priority = new Queue<Entry>();
  private readonly fresh = new Queue<Entry>();
  /** Per key, the window's messages of that key in order; only the head may be ready or in flight. */
  private readonly keys = new Map<string, Queue<Entry>>();
  private parkedCount: number;
  private parkedNextDue = Infinity;
  private readonly subscribers: Subscriber[] = [];
  private roundRobin = 0;
  /** Wake-ups for waiting entries and parked messages (leases use the sweep below). */
  private readonly timeline: Timeline<TimelineEvent>;
  private leaseTimer: TimerHandle | undefined;
  private leaseTimerAt = Infinity;
  private pumpScheduled = false;
  /**
   * The last pump spent its turn's delivery budget and handed over to `setImmediate(resume)`. Until then
   * no pump runs: a handler that settles within microtasks (acks without I/O) calls `schedulePump` for
   * every delivery, and a microtask pump would otherwise follow the last one at once, so a lagging group
   * would deliver its whole backlog in one macrotask, with no commit (acks never resolve) and memory
   * growing with the backlog.
   */
  private yielded = false;
  private pumping = false;
  private pumpAgain = false;
  private closed = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly topic: TopicState,
    cursor: number,
    private readonly ctx: GroupContext,
  ) {
    this.cursor = cursor;
    this.timeline = new Timeline(ctx.clock, this.onTimeline);
    this.parkedCount = ctx.parkedQueries.count(id);
    if (this.parkedCount > 0) this.armParked(ctx.parkedQueries.nextDue(id, -Infinity));
  }

  /** Rebuild the window from its stored form (after a restart): every unacked message is ready again. */
  restore(unsettled: readonly UnsettledEntry[]): void {
    const sorted = [...unsettled].sort((a, b) => a.seq - b.seq);
    const messages = this.ctx.reader.readSeqs(
      this.topic.id,
      sorted.map((e) => e.seq),
    );
    for (const e of sorted) {
      const message = messages.get(e.seq);
      if (message !== undefined) this.take(message, e.deliveries, false);
    }
    if (sorted.length !== messages.size) this.markDirty();
  }

  get hasSubscribers(): boolean {
    return this.subscribers.length > 0;
  }

  /** Largest window allowed now: the configured limit, or more if the subscribers' prefetch needs it. */
  private get windowLimit(): number {
    let prefetch = 0;
    for (const s of this.subscribers) prefetch += s.prefetch;
    return Math.max(this.ctx.tuning.windowLimit, prefetch + this.ctx.tuning.readAheadPage);
  }

  addSubscriber(subscriber: Subscriber): void {
    this.subscribers.push(subscriber);
    this.schedulePump();
  }

  removeSubscriber(subscriber: Subscriber): void {
    const i = this.subscribers.indexOf(subscriber);
    if (i >= 0) this.subscribers.splice(i, 1);
  }

  /** Return the subscriber's unsettled deliveries to the group (its subscription closed). */
  releaseSubscriber(subscriber: Subscriber): void {
    const now = this.ctx.clock.now();
    for (const e of this.entries) {
      if (e.state === IN_FLIGHT && e.subscriber === subscriber) this.endDelivery(e, now);
    }
    this.markDirty();
    this.schedulePump();
  }

  /**
   * Messages `first` to `first + count - 1` just committed, straight from the writer: take them if the group
   * is caught up (`messages` decodes them, once for all groups, and only if one takes any). Either way wake
   * the dispatcher: a group behind them (it lagged, or a failed commit left a gap before them) reads them
   * from disk.
   */
  offer(first: number, count: number, messages: () => readonly StoredMessage[]): void {
    if (this.subscribers.length === 0 || this.closed) return;
    this.schedulePump();
    if (this.cursor < first || this.cursor >= first + count) return;
    const room = this.windowLimit - this.entries.size;
    if (room <= 0) return;
    const list = messages();
    const start = this.cursor - first;
    const end = Math.min(list.length, start + room);
    for (let i = start; i < end; i++) this.take(list[i]!, 0, false);
    this.cursor = first + end;
    this.markDirty();
  }

  // ---- settlement (called by deliveries) ----

  isCurrent(entry: Entry, token: number): boolean {
    return entry.token === token && entry.state === IN_FLIGHT;
  }

  ack(entry: Entry, token: number): Promise<void> {
    if (!this.isCurrent(entry, token)) return Promise.resolve();
    this.unlease(entry);
    this.remove(entry);
    this.markDirty();
    this.schedulePump();
    return this.ctx.writer.whenCommitted();
  }

  nack(entry: Entry, token: number, delayMs: number): Promise<void> {
    if (!this.isCurrent(entry, token)) return Promise.resolve();
    const now = this.ctx.clock.now();
    this.endDelivery(entry, now + delayOf(delayMs));
    this.markDirty();
    this.schedulePump();
    return this.ctx.writer.whenCommitted();
  }

  extend(entry: Entry, token: number, ms: number | undefined): void {
    if (!this.isCurrent(entry, token)) return;
    const lease = ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : entry.subscriber!.leaseMs;
    entry.leaseUntil = this.ctx.clock.now() + lease;
  }

  // ---- replay ----

  /** Forget the window and parked messages and continue from `seq` (deliveries in flight become stale). */
  reset(seq: number): void {
    for (const e of this.entries) {
      if (e.state === IN_FLIGHT) this.unlease(e);
      e.state = GONE;
    }
    this.entries.clear();
    this.priority.clear();
    this.fresh.clear();
    this.keys.clear();
    if (this.parkedCount > 0 || this.ctx.writer.hasPendingParkedOps) this.ctx.writer.parked({ op: 'clear', groupId: this.id });
    this.parkedCount = 0;
    this.parkedNextDue = Infinity;
    this.cursor = seq;
    this.markDirty();
    this.schedulePump();
  }

  // ---- lag and retention ----

  lag(): Lag {
    let inFlight = 0;
    let oldest = Infinity;
    for (const e of this.entries) {
      if (e.state === IN_FLIGHT) inFlight++;
      if (e.message.publishedAt < oldest) oldest = e.message.publishedAt;
    }
    const untakenFrom = Math.max(this.cursor, this.topic.firstSeq);
    const untaken = Math.max(0, this.topic.committedSeq - untakenFrom);
    if (untaken > 0) oldest = Math.min(oldest, this.ctx.reader.publishedAt(this.topic.id, untakenFrom) ?? Infinity);
    if (this.parkedCount > 0) oldest = Math.min(oldest, this.oldestParkedPublishedAt());
    const pending = untaken + (this.entries.size - inFlight) + this.parkedCount;
    const now = this.ctx.clock.now();
    return { pending, inFlight, oldestAgeMs: oldest === Infinity ? undefined : Math.max(0, now - oldest) };
  }

  /** Lowest sequence the group may still need from the log (parked rows are checked by the caller). */
  lowestUnsettled(): number {
    let low = this.cursor;
    for (const e of this.entries) if (e.seq < low) low = e.seq;
    return low;
  }

  snapshot(): { cursor: number; unsettled: Buffer } {
    return { cursor: this.cursor, unsettled: encodeUnsettled(this.cursor, this.entries, this.entries.size) };
  }

  close(): void {
    this.closed = true;
    this.timeline.close();
    if (this.leaseTimer !== undefined) this.ctx.clock.clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
  }

  // ---- window mechanics ----

  /** Add a message taken from the log (or restored, or unparked) to the window. */
  private take(message: StoredMessage, deliveries: number, priority: boolean): void {
    const e = new Entry(message, deliveries);
    this.entries.add(e);
    if (this.entries.size > this.ctx.stats.largestWindow) this.ctx.stats.largestWindow = this.entries.size;
    if (message.key !== undefined) {
      const queue = this.keys.get(message.key);
      if (queue !== undefined) {
        queue.push(e);
        e.state = HELD;
        detach(message); // waits behind its key for as long as the messages before it take
        return;
      }
      const q = new Queue<Entry>();
      q.push(e);
      this.keys.set(message.key, q);
    }
    this.makeAvailable(e, message.notBefore, priority);
  }

  /** Make `e` deliverable at `due`: now, or later (waiting in memory, or parked on disk). */
  private makeAvailable(e: Entry, due: number, priority: boolean): void {
    // Most messages have no time to wait for (due 0): no clock read for them.
    const now = due === 0 ? 0 : this.ctx.clock.now();
    if (due <= now) {
      e.state = READY;
      (priority ? this.priority : this.fresh).push(e);
      return;
    }
    if (e.message.key === undefined && this.entries.size > this.windowLimit / 2) {
      this.park(e, due);
      return;
    }
    e.state = WAITING;
    e.due = due;
    detach(e.message);
    this.timeline.push(due, e);
  }

  private park(e: Entry, due: number): void {
    this.entries.delete(e);
    e.state = GONE;
    this.ctx.writer.parked({ op: 'insert', groupId: this.id, seq: e.seq, due, deliveries: e.deliveries });
    this.ctx.stats.parked++;
    this.parkedCount++;
    this.armParked(due);
    this.markDirty(); // the window shrank: its stored form must stop listing the parked message
  }

  private armParked(due: number | undefined): void {
    if (due === undefined) {
      this.parkedNextDue = Infinity;
      return;
    }
    if (due < this.parkedNextDue) {
      this.parkedNextDue = due;
      this.timeline.push(due, null);
    }
  }

  /** A delivery is over without an ack (nack, lease expiry, subscriber closed): available again at `due`. */
  private endDelivery(e: Entry, due: number): void {
    this.unlease(e);
    detach(e.message); // a redelivery may come much later than the rest of its row
    this.makeAvailable(e, due, true);
  }

  private unlease(e: Entry): void {
    const s = e.subscriber;
    if (s !== undefined) s.unsettled--;
    e.subscriber = undefined;
    e.token++;
  }

  /** `e` was acked: drop it and release the next message of its key. */
  private remove(e: Entry): void {
    this.entries.delete(e);
    e.state = GONE;
    const key = e.message.key;
    if (key === undefined) return;
    const queue = this.keys.get(key);
    if (queue === undefined) return;
    if (queue.peek() === e) queue.shift();
    const next = queue.peek();
    if (next === undefined) this.keys.delete(key);
    else this.makeAvailable(next, next.message.notBefore, true);
  }

  /**
   * A waiting entry's time or a parked due time came. Items are not removed when they stop applying (a
   * reset dropped the entry, a later nack changed its due time), so check the entry's state now.
   */
  private readonly onTimeline = (e: TimelineEvent): void => {
    const now = this.ctx.clock.now();
    if (e === null) {
      if (this.parkedNextDue <= now) this.schedulePump();
    } else if (e.state === WAITING && e.due <= now) {
      e.state = READY;
      this.priority.push(e);
      this.schedulePump();
    }
  };

  /**
   * Leases: one timer per group, armed for the earliest lease end known when it was armed. When it fires,
   * sweep the window (bounded) for expired leases and re-arm for the earliest remaining one. A delivery only
   * compares two numbers; nothing is kept per delivery, so an acked message is not retained by its lease.
   */
  private armLeaseTimer(at: number): void {
    if (at >= this.leaseTimerAt || this.closed) return;
    if (this.leaseTimer !== undefined) this.ctx.clock.clearTimeout(this.leaseTimer);
    this.leaseTimerAt = at;
    this.leaseTimer = this.ctx.clock.setTimeout(this.sweepLeases, Math.max(0, at - this.ctx.clock.now()));
  }

  private readonly sweepLeases = (): void => {
    this.leaseTimer = undefined;
    this.leaseTimerAt = Infinity;
    if (this.closed) return;
    const now = this.ctx.clock.now();
    let next = Infinity;
    let expired = false;
    for (const e of this.entries) {
      if (e.state !== IN_FLIGHT) continue;
      if (e.leaseUntil <= now) {
        this.endDelivery(e, now);
        expired = true;
      } else if (e.leaseUntil < next) {
        next = e.leaseUntil;
      }
    }
    if (expired) {
      this.markDirty();
      this.schedulePump();
    }
    if (next !== Infinity) this.armLeaseTimer(next);
  };

  // ---- dispatch ----

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    queueMicrotask(this.pump);
  }

  private readonly pump = (): void => {
    if (this.yielded) return; // `resume` runs the pump; pumpScheduled stays true until then
    this.pumpScheduled = false;
    if (this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    let delivered = 0;
    try {
      while (delivered < MAX_DELIVERIES_PER_TURN) {
        const subscriber = this.nextSubscriberWithRoom();
        if (subscriber === undefined) break;
        const e = this.nextReady();
        if (e === undefined) {
          if (!this.fill()) break;
          continue;
        }
        this.deliver(e, subscriber);
        delivered++;
      }
    } catch (error) {
      this.ctx.onError(error);
      this.pumpScheduled = true;
      this.ctx.clock.setTimeout(() => {
        this.pumpScheduled = false;
        this.schedulePump();
      }, RETRY_AFTER_ERROR_MS);
      return;
    } finally {
      this.pumping = false;
    }
    if (delivered >= MAX_DELIVERIES_PER_TURN) {
      // Let I/O, timers and the writer (which resolves the acks) run before delivering more.
      this.pumpScheduled = true;
      this.yielded = true;
      setImmediate(this.resume);
    } else if (this.pumpAgain) {
      this.pumpAgain = false;
      this.schedulePump();
    }
  };

  private readonly resume = (): void => {
    this.yielded = false;
    this.pumpScheduled = false;
    this.pump();
  };

  private nextSubscriberWithRoom(): Subscriber | undefined {
    const n = this.subscribers.length;
    for (let i = 0; i < n; i++) {
      const s = this.subscribers[(this.roundRobin + i) % n]!;
      if (s.unsettled < s.prefetch) {
        this.roundRobin = (this.roundRobin + i + 1) % n;
        return s;
      }
    }
    return undefined;
  }

  private nextReady(): Entry | undefined {
    for (;;) {
      const e = this.priority.length > 0 ? this.priority.shift() : this.fresh.shift();
      if (e === undefined) return undefined;
      if (e.state === READY) return e;
    }
  }

  /** Take more messages into the window: due parked ones first, then the log. True if anything changed. */
  private fill(): boolean {
    const now = this.ctx.clock.now();
    const parkedDue = this.parkedCount > 0 && this.parkedNextDue <= now;
    // The parked query must see every parked row: commit pending moves first (this may offer new messages).
    if (parkedDue && this.ctx.writer.hasPendingParkedOps) this.ctx.writer.flush();
    const room = this.windowLimit - this.entries.size;
    if (room <= 0) return false;
    if (parkedDue && this.unpark(now, room) > 0) return true;
    if (this.cursor >= this.topic.committedSeq) return false;
    const from = Math.max(this.cursor, this.topic.firstSeq);
    const page = this.ctx.reader.readPage(this.topic.id, from, Math.min(room, this.ctx.tuning.readAheadPage));
    for (const message of page.messages) this.take(message, 0, false);
    // Nothing found below the committed end means a gap (a failed commit): skip it.
    this.cursor = page.messages.length > 0 ? page.next : this.topic.committedSeq;
    this.markDirty();
    return true;
  }

  /** Bring due parked messages back into the window. Returns how many came back. */
  private unpark(now: number, room: number): number {
    const { writer, parkedQueries, reader } = this.ctx;
    const rows = parkedQueries.due(this.id, now, room + 1);
    const more = rows.length > room;
    if (more) rows.length = room;
    rows.sort((a, b) => a.seq - b.seq);
    const messages = reader.readSeqs(
      this.topic.id,
      rows.map((r) => r.seq),
    );
    for (const row of rows) {
      writer.parked({ op: 'delete', groupId: this.id, seq: row.seq });
      this.parkedCount--;
      const message = messages.get(row.seq);
      if (message !== undefined) this.take(message, row.deliveries, true);
    }
    this.parkedNextDue = Infinity;
    this.armParked(more ? now : parkedQueries.nextDue(this.id, now));
    this.markDirty();
    return rows.length;
  }

  private deliver(e: Entry, subscriber: Subscriber): void {
    // Read per delivery: an in-process handler runs synchronously inside `subscriber.deliver`, so a reading
    // shared across deliveries would start later leases early by the earlier handlers' time.
    const now = this.ctx.clock.now();
    e.state = IN_FLIGHT;
    e.deliveries++;
    e.token++;
    e.subscriber = subscriber;
    e.leaseUntil = now + subscriber.leaseMs;
    subscriber.unsettled++;
    if (e.leaseUntil < this.leaseTimerAt) this.armLeaseTimer(e.leaseUntil);
    subscriber.deliver(e, e.token);
  }

  private oldestParkedPublishedAt(): number {
    if (this.ctx.writer.hasPendingParkedOps) this.ctx.writer.flush();
    const seq = this.ctx.parkedQueries.minSeq(this.id);
    return seq === undefined ? Infinity : (this.ctx.reader.publishedAt(this.topic.id, seq) ?? Infinity);
  }

  private markDirty(): void {
    this.ctx.writer.markDirty(this);
  }
}

/** Stop `message` pinning the log row it was read from (see `LoggedMessage`). */
function detach(message: StoredMessage): void {
  if (message instanceof LoggedMessage) message.detach();
}
