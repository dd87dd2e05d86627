/**
 * The pushes one subscription has not had acknowledged, in sequence order: what a reconnecting client
 * resumes from.
 *
 * Invariants:
 * - sequence numbers are assigned here, 1, 2, 3… with no holes (`lastSeq` is the last one assigned);
 * - entries are only ever removed from the head (acknowledged, or evicted by retention), so the retained
 *   entries are always the contiguous run `first … lastSeq`, and finding a sequence number is an index;
 * - retention: at most `maxCount` entries, none older than `maxAgeMs`. Eviction drops the oldest first,
 *   acknowledged or not; an evicted push that was never acknowledged is a gap the client must be told
 *   about (the subscription does that: `server-subscription.ts`).
 *
 * An entry holds the publish's shared frame tail (`"ev":…,"data":…}`), the same string for every
 * subscription the publish reached, so retention costs one small object per push per subscriber.
 */
export interface RetentionOptions {
  /** Most pushes kept per subscription. Default 1000. */
  readonly maxCount?: number;
  /** Oldest push kept, ms. Default 60 s. */
  readonly maxAgeMs?: number;
}

export interface PushEntry {
  readonly seq: number;
  /** When published, epoch ms. */
  readonly at: number;
  /** The frame from the event attributes on: `"ev":{…},"data":…}`. */
  readonly tail: string;
}

export class PushLog {
  private entries: PushEntry[] = [];
  private head = 0;
  /** The last sequence number assigned (0 before the first push). */
  lastSeq: number;

  constructor(lastSeq = 0) {
    this.lastSeq = lastSeq;
  }

  /** Sequence number of the oldest retained push; `lastSeq + 1` when none is retained. */
  get first(): number {
    const e = this.entries[this.head];
    return e === undefined ? this.lastSeq + 1 : e.seq;
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  append(at: number, tail: string): number {
    const seq = ++this.lastSeq;
    this.entries.push({ seq, at, tail });
    return seq;
  }

  /** The retained push numbered `seq`, if it is still retained. */
  get(seq: number): PushEntry | undefined {
    const first = this.first;
    return seq < first ? undefined : this.entries[this.head + (seq - first)];
  }

  /** Forget every push up to and including `seq` (acknowledged). */
  dropThrough(seq: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.seq <= seq) this.entries[this.head++] = undefined!;
    this.compact();
  }

  /** Apply retention; returns how many pushes were evicted. */
  evict(now: number, maxCount: number, maxAgeMs: number): number {
    let evicted = 0;
    const oldest = now - maxAgeMs;
    while (this.size > 0 && (this.size > maxCount || this.entries[this.head]!.at < oldest)) {
      this.entries[this.head++] = undefined!;
      evicted++;
    }
    if (evicted > 0) this.compact();
    return evicted;
  }

  private compact(): void {
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
