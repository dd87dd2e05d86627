import type { Clock, TimerHandle } from '../../core/clock.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import type { DeliveryHandler, Lag, ReceivedMessage } from '../broker.js';
import type { TopicLog, StoredMessage } from './topic-log.js';

/** One message's state in one group: waiting for (re)delivery or leased to a consumer. */
export interface Entry {
  readonly message: StoredMessage;
  /** Deliveries so far. */
  attempt: number;
  /** Not deliverable before this time (delays, nack backoff, injected latency). */
  availableAt: number;
}

interface Member {
  readonly dispatcher: Dispatcher<Entry>;
}

/** How many log messages a group moves into its working set ahead of delivery. Bounds memory per group. */
const READ_AHEAD = 1024;

/**
 * A consumer group on one topic: its cursor into the log, the messages it holds for (re)delivery, the messages
 * leased to its members, and the rule that picks what to deliver next:
 * - lowest sequence first, among messages whose `availableAt` has come;
 * - a message whose key has an earlier message leased or not yet due waits (per-key order, one at a time);
 * - members are served round-robin, each up to its prefetch (the dispatcher enforces the bound).
 */
export class Group {
  private cursor: number;
  private readonly waiting = new Map<number, Entry>();
  private readonly leased = new Map<number, Entry>();
  private readonly leasedKeys = new Map<string, number>();
  private readonly members: Member[] = [];
  private nextMember = 0;
  private pumpQueued = false;
  private wakeTimer: TimerHandle | undefined;
  private wakeAt = Infinity;

  constructor(
    readonly name: string,
    private readonly log: TopicLog,
    private readonly clock: Clock,
    start: number,
    private readonly shuffle: ((entries: Entry[]) => void) | undefined,
    /** When deliveries are paused (an injected outage), the time they resume; 0 when not paused. */
    private readonly pausedUntil: () => number,
  ) {
    this.cursor = start;
  }

  join(options: {
    prefetch: number;
    leaseMs: number;
    handler: DeliveryHandler;
    onError: (e: unknown) => void;
  }): Dispatcher<Entry> {
    const settlement: Settlement<Entry> = {
      ack: async (entry) => this.settle(entry, undefined),
      nack: async (entry, delayMs) => this.settle(entry, this.clock.now() + delayMs),
      extend: async () => undefined,
      expire: async (entry) => this.settle(entry, this.clock.now()),
      release: async (entry) => this.settle(entry, this.clock.now()),
    };
    const dispatcher = new Dispatcher<Entry>({ ...options, clock: this.clock, settlement });
    this.members.push({ dispatcher });
    this.schedulePump();
    return dispatcher;
  }

  leave(dispatcher: Dispatcher<Entry>): void {
    const i = this.members.findIndex((m) => m.dispatcher === dispatcher);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** Move the cursor (replay). Messages waiting for redelivery are dropped; leased ones finish normally. */
  seek(sequence: number): void {
    this.cursor = Math.max(sequence, this.log.firstSequence);
    this.waiting.clear();
    this.schedulePump();
  }

  /** The lowest sequence this group may still need (retention must keep it). */
  get lowWater(): number {
    let low = this.cursor;
    for (const seq of this.waiting.keys()) low = Math.min(low, seq);
    for (const seq of this.leased.keys()) low = Math.min(low, seq);
    return low;
  }

  lag(): Lag {
    const now = this.clock.now();
    let oldest = Infinity;
    for (const e of this.waiting.values()) oldest = Math.min(oldest, e.message.publishedAt);
    for (const e of this.leased.values()) oldest = Math.min(oldest, e.message.publishedAt);
    const head = this.log.get(this.cursor);
    if (head) oldest = Math.min(oldest, head.publishedAt);
    return {
      pending: this.waiting.size + Math.max(0, this.log.nextSequence - this.cursor),
      inFlight: this.leased.size,
      oldestAgeMs: oldest === Infinity ? undefined : Math.max(0, now - oldest),
    };
  }

  schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(this.pump);
  }

  close(): void {
    if (this.wakeTimer !== undefined) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
  }

  /** A leased entry is settled: acked (`availableAt` undefined) or handed back for redelivery at `availableAt`. */
  private settle(entry: Entry, availableAt: number | undefined): void {
    const seq = entry.message.sequence;
    if (this.leased.get(seq) !== entry) return;
    this.leased.delete(seq);
    const key = entry.message.key;
    if (key !== undefined) {
      const n = (this.leasedKeys.get(key) ?? 1) - 1;
      if (n === 0) this.leasedKeys.delete(key);
      else this.leasedKeys.set(key, n);
    }
    if (availableAt !== undefined && seq >= this.log.firstSequence) {
      entry.availableAt = availableAt;
      this.waiting.set(seq, entry);
    }
    this.schedulePump();
  }

  private readonly pump = (): void => {
    this.pumpQueued = false;
    if (this.members.length === 0) return;
    const resumeAt = this.pausedUntil();
    if (resumeAt > 0) return this.armWake(resumeAt);
    this.readAhead();
    const now = this.clock.now();
    const blocked = new Set<string>(this.leasedKeys.keys());
    let nextWake = Infinity;
    const candidates: Entry[] = [];
    for (const seq of [...this.waiting.keys()].sort((a, b) => a - b)) {
      const entry = this.waiting.get(seq)!;
      const key = entry.message.key;
      if (key !== undefined && blocked.has(key)) continue;
      if (entry.availableAt > now) {
        nextWake = Math.min(nextWake, entry.availableAt);
        if (key !== undefined) blocked.add(key);
        continue;
      }
      if (key !== undefined) blocked.add(key);
      candidates.push(entry);
    }
    this.shuffle?.(candidates);
    for (const entry of candidates) {
      const member = this.memberWithSlot();
      if (member === undefined) break;
      this.deliver(entry, member);
    }
    this.armWake(nextWake);
  };

  private readAhead(): void {
    if (this.cursor < this.log.firstSequence) this.cursor = this.log.firstSequence;
    while (this.waiting.size < READ_AHEAD && this.cursor < this.log.nextSequence) {
      const message = this.log.get(this.cursor)!;
      this.waiting.set(this.cursor, { message, attempt: 0, availableAt: message.notBefore });
      this.cursor++;
    }
  }

  private memberWithSlot(): Member | undefined {
    for (let i = 0; i < this.members.length; i++) {
      const member = this.members[(this.nextMember + i) % this.members.length]!;
      if (member.dispatcher.free > 0 && !member.dispatcher.isClosed) {
        this.nextMember = (this.nextMember + i + 1) % this.members.length;
        return member;
      }
    }
    return undefined;
  }

  private deliver(entry: Entry, member: Member): void {
    const { message } = entry;
    this.waiting.delete(message.sequence);
    this.leased.set(message.sequence, entry);
    if (message.key !== undefined)
      this.leasedKeys.set(message.key, (this.leasedKeys.get(message.key) ?? 0) + 1);
    entry.attempt++;
    const received: ReceivedMessage = {
      id: message.id,
      topic: message.topic,
      key: message.key,
      headers: message.headers,
      body: message.body,
      attempt: entry.attempt,
      sequence: message.sequence,
      publishedAt: message.publishedAt,
    };
    member.dispatcher.dispatch(received, entry);
  }

  private armWake(at: number): void {
    if (at === Infinity || at >= this.wakeAt) return;
    if (this.wakeTimer !== undefined) this.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeAt = Infinity;
        this.schedulePump();
      },
      Math.max(0, at - this.clock.now()),
    );
  }
}
