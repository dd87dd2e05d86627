/**
 * Retention: which messages of a topic the broker deletes, and when.
 *
 * - `deleteAcked` (default true): a message is deleted once every group of its topic has acked it (a queue).
 *   A topic without any group keeps its messages, so a group created later with `start: earliest` finds
 *   them. With `deleteAcked: false` the topic is a stream: acked messages stay replayable (`seek`) until a
 *   limit below removes them.
 * - `maxAgeMs`, `maxBytes`: limits that delete the oldest messages whether or not they were consumed (like
 *   Kafka or a NATS `limits` stream). A group that had not reached them skips ahead.
 *
 * Deletion works on whole batch rows (a row goes when all of its messages may go), runs inside a writer
 * transaction at most once per `retentionIntervalMs` (or on demand), and costs one indexed range delete.
 */
import type Database from 'better-sqlite3';
import type { LogReader } from './log-reader.js';
import type { TopicState } from './topic-state.js';

export interface RetentionPolicy {
  /** Delete a message once every group of the topic acked it. Default true. */
  readonly deleteAcked?: boolean;
  /** Delete messages older than this (consumed or not), in ms. */
  readonly maxAgeMs?: number;
  /** Keep at most this many bytes of messages per topic, deleting the oldest first (consumed or not). */
  readonly maxBytes?: number;
}

/** One policy for every topic, or a policy per topic name. */
export type RetentionOption = RetentionPolicy | ((topic: string) => RetentionPolicy);

export const DEFAULT_RETENTION: RetentionPolicy = { deleteAcked: true };

export function retentionFor(option: RetentionOption | undefined, topic: string): RetentionPolicy {
  const policy = typeof option === 'function' ? option(topic) : option;
  return { ...DEFAULT_RETENTION, ...policy };
}

interface DeletedRow {
  count: number;
  bytes: number;
}

/** Applies retention to topics, inside the caller's transaction. */
export class RetentionRunner {
  private readonly deleteBelow: Database.Statement<[number, number, number], DeletedRow>;
  private readonly oldest: Database.Statement<[number], { first_seq: number; count: number; bytes: number }>;
  private readonly setFirstSeq: Database.Statement<[number, number]>;

  constructor(
    db: Database.Database,
    private readonly reader: LogReader,
    private readonly parkedMinSeq: (groupId: number) => number | undefined,
  ) {
    this.deleteBelow = db.prepare('DELETE FROM batches WHERE topic_id = ? AND first_seq < ? AND first_seq + count <= ? RETURNING count, bytes');
    this.oldest = db.prepare('SELECT first_seq, count, bytes FROM batches WHERE topic_id = ? ORDER BY first_seq');
    this.setFirstSeq = db.prepare('UPDATE topics SET first_seq = ? WHERE topic_id = ?');
  }

  /** Delete what the topic's policy allows; returns how many messages were deleted. */
  apply(topic: TopicState, now: number): number {
    const policy = topic.retention;
    let cut = topic.firstSeq;
    if (policy.deleteAcked !== false && topic.groups.size > 0) {
      let low = Infinity;
      for (const group of topic.groups.values()) {
        low = Math.min(low, group.lowestUnsettled(), this.parkedMinSeq(group.id) ?? Infinity);
      }
      cut = Math.max(cut, Math.min(low, topic.committedSeq));
    }
    if (policy.maxAgeMs !== undefined) {
      // Everything before the first batch young enough to keep is old enough to delete.
      const young = this.reader.firstSeqAtTime(topic.id, now - policy.maxAgeMs, 1, topic.committedSeq);
      cut = Math.max(cut, young ?? topic.committedSeq);
    }
    if (policy.maxBytes !== undefined && topic.bytes > policy.maxBytes) {
      let excess = topic.bytes - policy.maxBytes;
      for (const row of this.oldest.iterate(topic.id)) {
        if (excess <= 0) break;
        if (row.first_seq + row.count > cut) {
          cut = row.first_seq + row.count;
        }
        excess -= row.bytes;
      }
    }
    if (cut <= topic.firstSeq) return 0;
    let deleted = 0;
    for (const row of this.deleteBelow.all(topic.id, cut, cut)) {
      deleted += row.count;
      topic.bytes -= row.bytes;
    }
    topic.firstSeq = cut;
    this.setFirstSeq.run(cut, topic.id);
    return deleted;
  }
}
