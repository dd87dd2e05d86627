/**
 * Reads messages back from the log (the `batches` table) in bounded amounts: a page from a position (a group
 * catching up), a set of sequences (restored windows, parked messages), or a position from a time (`seek`).
 * Nothing here ever loads a whole backlog: a page decodes at most `max` messages.
 */
import type Database from 'better-sqlite3';
import { decodeEntry, entryOffsets, offsetOfEntry, type StoredMessage } from './batch-codec.js';
import type { EmbeddedBrokerStats } from './stats.js';

interface BatchRow {
  first_seq: number;
  count: number;
  published_at: number;
  data: Buffer;
}

export interface Page {
  readonly messages: StoredMessage[];
  /** Where the next read should start (past the last message returned, or past a gap). */
  readonly next: number;
}

/** Where the last page read stopped inside a row: the next page usually starts there. */
interface RowPosition {
  readonly topicId: number;
  readonly row: BatchRow;
  /** Sequence and byte offset of the next entry not returned. */
  seq: number;
  offset: number;
}

export class LogReader {
  /**
   * Pages (≤ `readAheadPage` messages) and rows (≤ `maxRowMessages`) do not line up, so a group reading
   * pages in order would read the row its last page ended in twice (and skip over its first entries again).
   * The reader keeps that one row and position instead. Rows are never changed once written, and retention
   * only deletes rows wholly below every position a group still reads from, so the kept row stays true.
   */
  private position: RowPosition | undefined;
  private readonly containing: Database.Statement<[number, number], BatchRow>;
  private readonly after: Database.Statement<[number, number], BatchRow>;
  private readonly atOrAfter: Database.Statement<[number, number], { first_seq: number; published_at: number }>;
  private readonly publishedAtStmt: Database.Statement<[number, number], number>;

  constructor(
    db: Database.Database,
    private readonly stats: EmbeddedBrokerStats,
  ) {
    this.containing = db.prepare(
      'SELECT first_seq, count, published_at, data FROM batches WHERE topic_id = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1',
    );
    this.after = db.prepare('SELECT first_seq, count, published_at, data FROM batches WHERE topic_id = ? AND first_seq > ? ORDER BY first_seq');
    this.atOrAfter = db.prepare('SELECT first_seq, published_at FROM batches WHERE topic_id = ? AND first_seq >= ? ORDER BY first_seq LIMIT 1');
    this.publishedAtStmt = db
      .prepare<[number, number], number>('SELECT published_at FROM batches WHERE topic_id = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1')
      .pluck();
  }

  /** Up to `max` messages with sequence ≥ `from`, in order. */
  readPage(topicId: number, from: number, max: number): Page {
    const messages: StoredMessage[] = [];
    let next = from;
    let stoppedIn: RowPosition | undefined;
    const take = (row: BatchRow, known?: RowPosition): void => {
      const end = row.first_seq + row.count;
      let seq = Math.max(from, row.first_seq);
      if (seq >= end) return;
      let offset = known !== undefined ? known.offset : offsetOfEntry(row.data, seq - row.first_seq);
      for (; seq < end && messages.length < max; seq++) {
        // A view of the row: read in order, these are delivered soon (the group detaches those that stay).
        const { message, next: after } = decodeEntry(row.data, offset, seq, row.published_at, false);
        messages.push(message);
        offset = after;
      }
      next = seq;
      stoppedIn = seq < end ? { topicId, row, seq, offset } : undefined;
    };
    const kept = this.position;
    const resume = kept !== undefined && kept.topicId === topicId && kept.seq === from ? kept : undefined;
    const first = resume !== undefined ? resume.row : this.containing.get(topicId, from);
    if (first !== undefined) take(first, resume);
    if (messages.length < max) {
      for (const row of this.after.iterate(topicId, from)) {
        take(row);
        if (messages.length >= max) break;
      }
    }
    this.position = stoppedIn;
    this.stats.pageReads++;
    this.stats.messagesRead += messages.length;
    if (messages.length > this.stats.largestPage) this.stats.largestPage = messages.length;
    return { messages, next };
  }

  /** The messages at the given sequences (ascending); sequences no longer stored are absent from the map. */
  readSeqs(topicId: number, seqs: readonly number[]): Map<number, StoredMessage> {
    const found = new Map<number, StoredMessage>();
    let row: BatchRow | undefined;
    let offsets: number[] = [];
    for (const seq of seqs) {
      if (row === undefined || seq < row.first_seq || seq >= row.first_seq + row.count) {
        row = this.containing.get(topicId, seq);
        if (row === undefined || seq >= row.first_seq + row.count) {
          row = undefined;
          continue;
        }
        offsets = entryOffsets(row.data, row.count);
      }
      found.set(seq, decodeEntry(row.data, offsets[seq - row.first_seq]!, seq, row.published_at).message);
    }
    this.stats.messagesRead += found.size;
    return found;
  }

  /**
   * First stored sequence in [`from`, `to`) published at or after `time`, or undefined. Publish times never
   * decrease along a topic's sequence (the writer sees to it), so this is a binary search over sequences:
   * O(log n) indexed probes and no index on time to maintain on every publish.
   */
  firstSeqAtTime(topicId: number, time: number, from: number, to: number): number | undefined {
    let lo = from;
    let hi = to;
    let found: number | undefined;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const row = this.atOrAfter.get(topicId, mid);
      if (row === undefined || row.first_seq >= hi) {
        hi = mid; // no batch starts in [mid, hi)
      } else if (row.published_at >= time) {
        found = row.first_seq;
        hi = mid; // no batch starts in (mid, row.first_seq): the answer is this one or earlier
      } else {
        lo = row.first_seq + 1;
      }
    }
    return found;
  }

  /** Publish time of the stored message at `seq` (its batch's time), or undefined if not stored. */
  publishedAt(topicId: number, seq: number): number | undefined {
    return this.publishedAtStmt.get(topicId, seq);
  }
}
