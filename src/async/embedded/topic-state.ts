/**
 * What the broker keeps in memory about one topic: sequence counters and its groups. The log itself stays
 * on disk; `committedSeq` is the boundary a reader may read up to.
 */
import type { RetentionPolicy } from './retention.js';
import type { GroupRuntime } from './group.js';

export class TopicState {
  /** Next sequence to assign (assigned at `publish`, before the commit). */
  nextSeq: number;
  /** One past the last committed sequence: everything below is on disk (or was deleted by retention). */
  committedSeq: number;
  /** Lowest sequence still retained (messages below were deleted by retention). */
  firstSeq: number;
  /**
   * Bytes of message data stored for this topic (the `bytes` of its batch rows). Counted from the log at
   * startup only for a topic with a `maxBytes` retention, its one user; for other topics it starts at 0.
   */
  bytes: number;
  /** Publish time of the last committed batch; publish times never go backwards within a topic. */
  lastPublishedAt = 0;
  readonly groups = new Map<string, GroupRuntime>();

  constructor(
    readonly id: number,
    readonly name: string,
    position: { nextSeq: number; firstSeq: number; bytes: number },
    readonly retention: RetentionPolicy,
  ) {
    this.nextSeq = position.nextSeq;
    this.committedSeq = position.nextSeq;
    this.firstSeq = position.firstSeq;
    this.bytes = position.bytes;
  }
}
