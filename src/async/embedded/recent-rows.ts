/**
 * The newest committed batch rows of every topic, kept in memory so that a group a little behind the
 * producers reads them without going to SQLite (each such read walks the row's overflow pages and copies
 * the BLOB into a new Buffer: most of what a page read costs).
 *
 * The writer encodes every row into a buffer of its own (`writer.ts`), so keeping a row costs no copy, only
 * the memory, which is bounded by `budgetBytes` over all topics: the oldest rows go first. What is kept
 * for a topic is always a suffix of its log (every committed row from the first one kept on), so a reader
 * that finds the row holding a sequence here finds every later row here too. Rows retention deletes are
 * dropped from here at the same time (`forgetBelow`), so nothing deleted is ever read back.
 */
export interface RecentRow {
  readonly first_seq: number;
  readonly count: number;
  readonly published_at: number;
  readonly data: Buffer;
}

interface TopicRows {
  /** Rows in sequence order; `rows[head]` is the oldest still kept (the array is compacted now and then). */
  rows: RecentRow[];
  head: number;
}

export class RecentRows {
  private readonly topics = new Map<number, TopicRows>();
  private bytes = 0;

  constructor(private readonly budgetBytes: number) {}

  /** Keep rows just committed (in sequence order, after every row kept for the topic so far). */
  add(topicId: number, rows: readonly RecentRow[]): void {
    if (this.budgetBytes <= 0) return;
    let kept = this.topics.get(topicId);
    if (kept === undefined) this.topics.set(topicId, (kept = { rows: [], head: 0 }));
    for (const row of rows) {
      kept.rows.push(row);
      this.bytes += footprint(row);
    }
    while (this.bytes > this.budgetBytes && this.evictOldest());
  }

  /** The kept row holding `seq`, if the kept suffix reaches back that far. */
  containing(topicId: number, seq: number): RecentRow | undefined {
    const kept = this.topics.get(topicId);
    if (kept === undefined) return undefined;
    const index = this.indexOf(kept, seq);
    return index < 0 ? undefined : kept.rows[index];
  }

  /** The kept row right after `row` (a row `containing` returned), or undefined past the newest. */
  following(topicId: number, row: RecentRow): RecentRow | undefined {
    const kept = this.topics.get(topicId);
    if (kept === undefined) return undefined;
    const index = this.indexOf(kept, row.first_seq);
    return index < 0 ? undefined : kept.rows[index + 1];
  }

  /** Drop the rows wholly below `seq` (retention deleted them). */
  forgetBelow(topicId: number, seq: number): void {
    const kept = this.topics.get(topicId);
    if (kept === undefined) return;
    while (kept.head < kept.rows.length) {
      const row = kept.rows[kept.head]!;
      if (row.first_seq + row.count > seq) break;
      this.drop(kept);
    }
  }

  /** Bytes held now (for stats and tests). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Index of the kept row holding `seq`, or -1. Binary search over the kept rows. */
  private indexOf(kept: TopicRows, seq: number): number {
    const rows = kept.rows;
    let lo = kept.head;
    let hi = rows.length - 1;
    if (lo > hi || seq < rows[lo]!.first_seq) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (rows[mid]!.first_seq <= seq) lo = mid;
      else hi = mid - 1;
    }
    const row = rows[lo]!;
    return seq < row.first_seq + row.count ? lo : -1;
  }

  /** Evict the oldest kept row of the topic whose oldest row is oldest. False when nothing is kept. */
  private evictOldest(): boolean {
    let victim: TopicRows | undefined;
    let oldest = Infinity;
    for (const kept of this.topics.values()) {
      if (kept.head >= kept.rows.length) continue;
      const at = kept.rows[kept.head]!.published_at;
      if (at < oldest) {
        oldest = at;
        victim = kept;
      }
    }
    if (victim === undefined) return false;
    this.drop(victim);
    return true;
  }

  private drop(kept: TopicRows): void {
    this.bytes -= footprint(kept.rows[kept.head]!);
    kept.head++;
    if (kept.head === kept.rows.length) {
      kept.rows = [];
      kept.head = 0;
    } else if (kept.head >= 1024 && kept.head * 2 >= kept.rows.length) {
      kept.rows = kept.rows.slice(kept.head);
      kept.head = 0;
    }
  }
}

/** What keeping a row holds in memory: its whole underlying buffer (it may be a view of a larger one). */
function footprint(row: RecentRow): number {
  return row.data.buffer.byteLength;
}
