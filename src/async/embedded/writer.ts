/**
 * The group-commit writer: the only code that writes the log and group state, in one transaction per turn.
 *
 * Publishes, settlements (acks, nacks: the groups they touched), parked-message moves and retention queue
 * up in memory; the writer commits them together as soon as it is free (a `setImmediate` after the first
 * piece of work arrives), never waiting for a batch to fill. At low load a transaction carries one message
 * and a publish resolves within a few hundred µs; under load everything that arrived while the previous
 * transaction ran goes into the next one, so batches grow by themselves. A publish promise resolves only
 * after the transaction holding it committed; if the transaction fails it rejects and nothing was stored.
 *
 * Messages of one topic in one transaction are stored as a few batch rows (`batch-codec.ts`), so the cost
 * per message is a share of one row insert. A message is encoded into its row as it is published: the
 * publish keeps no copy of its body or headers and no message object, only its promise's callbacks; the
 * committed rows are what caught-up groups then read their messages from (`CommittedRow`). Acks cost a rewrite of each touched group's small `unsettled`
 * BLOB per transaction, not a row each.
 *
 * Durability `power` runs transactions that store messages with `synchronous=FULL` (the WAL is fsynced
 * before the commit returns) and settlement-only transactions with `synchronous=NORMAL`: losing an ack to
 * a power cut means one more delivery, which at-least-once allows, and it saves an fsync per ack batch.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import type { PublishReceipt } from '../broker.js';
import { BatchEncoder, encodedSizeBound, type EncodableMessage } from './batch-codec.js';
import type { Durability } from './database.js';
import type { ResolvedTuning } from './options.js';
import type { EmbeddedBrokerStats } from './stats.js';
import type { TopicState } from './topic-state.js';

/**
 * A batch row being filled: messages of one topic with consecutive sequences, in publish order. Message `i`
 * has sequence `firstSeq + i`, id `ids[i]`, and its publish waits on `resolves[i]`/`rejects[i]` (parallel
 * arrays rather than an object per publish).
 */
interface QueuedRow {
  readonly topic: TopicState;
  readonly firstSeq: number;
  readonly encoder: BatchEncoder;
  readonly ids: string[];
  readonly resolves: ((receipt: PublishReceipt) => void)[];
  readonly rejects: ((error: unknown) => void)[];
}

/**
 * The row the publish being created joins: read by `joinRow`, the executor every publish promise shares.
 * A promise runs its executor synchronously inside its constructor, so this is set just before and read
 * just after; one shared executor saves a closure and its context per publish.
 */
let joining: QueuedRow | undefined;

function joinRow(resolve: (receipt: PublishReceipt) => void, reject: (error: unknown) => void): void {
  joining!.resolves.push(resolve);
  joining!.rejects.push(reject);
}

/** A row as committed: what caught-up groups read its messages from (`committedMessages`). */
export interface CommittedRow {
  readonly first_seq: number;
  readonly count: number;
  readonly published_at: number;
  readonly data: Buffer;
}

/** A group whose persistent state (cursor, unsettled window) changed since the last commit. */
export interface DirtyGroup {
  readonly id: number;
  /** The row to write: called inside the transaction, so it reflects the state at commit time. */
  snapshot(): { cursor: number; unsettled: Buffer };
}

export type ParkedOp =
  | { readonly op: 'insert'; readonly groupId: number; readonly seq: number; readonly due: number; readonly deliveries: number }
  | { readonly op: 'delete'; readonly groupId: number; readonly seq: number }
  | { readonly op: 'clear'; readonly groupId: number };

export interface WriterHooks {
  /** Rows of `topic` just committed, in sequence order: hand their messages to caught-up groups. */
  onCommitted(topic: TopicState, rows: readonly CommittedRow[]): void;
  /** Work to do inside the transaction after everything else (retention). Called when `retentionDue()`. */
  retention(now: number): void;
  /** Errors no caller can receive (a failing hand-off after a successful commit). */
  onError(error: unknown): void;
  /** A transaction committed (used to sync the WAL in the background at `process`). */
  afterCommit?(): void;
}

interface Waiter {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** How long state-only retries wait after a failed transaction. */
const RETRY_AFTER_FAILURE_MS = 500;

export class CommitWriter {
  /** Rows waiting for a commit, in the order they were started. */
  private rows: QueuedRow[] = [];
  /** The row each topic's next publish is appended to (the last of its queued rows, while it has room). */
  private readonly openRows = new Map<TopicState, QueuedRow>();
  /** Size of each topic's last row, the first guess for the size of its next. */
  private readonly rowSizeHint = new Map<TopicState, number>();
  private dirty = new Set<DirtyGroup>();
  private parkedOps: ParkedOp[] = [];
  private waiter: Waiter | undefined;
  private scheduled = false;
  /** After a failed transaction, retries without new publishes wait until then (epoch ms). */
  private retryAfter = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private committing = false;
  private closed = false;
  private retentionRequested = false;
  private lastRetentionAt: number;
  private syncMode: 'NORMAL' | 'FULL';
  /** Bytes written per topic by the transaction in progress, applied to the topics once it committed. */
  private readonly pendingBytes = new Map<TopicState, number>();
  private readonly insertBatch: Database.Statement<[number, number, number, number, number, Buffer]>;
  private readonly updateGroup: Database.Statement<[number, Buffer, number]>;
  private readonly insertParked: Database.Statement<[number, number, number, number]>;
  private readonly deleteParked: Database.Statement<[number, number]>;
  private readonly clearParked: Database.Statement<[number]>;
  private readonly syncFull: Database.Statement;
  private readonly syncNormal: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly durability: Durability,
    private readonly clock: Clock,
    private readonly tuning: ResolvedTuning,
    private readonly stats: EmbeddedBrokerStats,
    private readonly hooks: WriterHooks,
  ) {
    this.insertBatch = db.prepare('INSERT INTO batches (topic_id, first_seq, count, published_at, bytes, data) VALUES (?, ?, ?, ?, ?, ?)');
    this.updateGroup = db.prepare('UPDATE groups SET cursor = ?, unsettled = ? WHERE group_id = ?');
    this.insertParked = db.prepare('INSERT OR REPLACE INTO parked (group_id, seq, due, deliveries) VALUES (?, ?, ?, ?)');
    this.deleteParked = db.prepare('DELETE FROM parked WHERE group_id = ? AND seq = ?');
    this.clearParked = db.prepare('DELETE FROM parked WHERE group_id = ?');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncMode = durability === 'power' ? 'FULL' : 'NORMAL';
    this.lastRetentionAt = clock.now();
  }

  /**
   * Encode a message into its topic's open row (a new row when the message would not fit, or its sequence
   * does not follow the row's last); resolves with its receipt once the row committed. `message` is read
   * now and not kept. Its sequence must be the topic's next, assigned by the caller.
   */
  publish(topic: TopicState, seq: number, message: EncodableMessage): Promise<PublishReceipt> {
    const { maxRowMessages, maxRowBytes, maxTransactionMessages } = this.tuning;
    let row = this.openRows.get(topic);
    if (
      row === undefined ||
      row.firstSeq + row.ids.length !== seq ||
      // A transaction carries whole rows, so no row may hold more than one transaction may.
      row.ids.length >= Math.min(maxRowMessages, maxTransactionMessages) ||
      row.encoder.size + encodedSizeBound(message) > maxRowBytes
    ) {
      const hint = this.rowSizeHint.get(topic) ?? 0;
      const initial = Math.min(maxRowBytes, Math.max(4096, hint, encodedSizeBound(message)));
      const fresh: QueuedRow = { topic, firstSeq: seq, encoder: new BatchEncoder(initial), ids: [], resolves: [], rejects: [] };
      fresh.encoder.append(message); // queued only once it holds a message
      this.rows.push(fresh);
      this.openRows.set(topic, fresh);
      row = fresh;
    } else {
      row.encoder.append(message);
    }
    row.ids.push(message.id);
    joining = row;
    const published = new Promise<PublishReceipt>(joinRow);
    joining = undefined;
    this.schedule();
    return published;
  }

  /** Record that `group` must be written with the next commit. */
  markDirty(group: DirtyGroup): void {
    this.dirty.add(group);
    this.schedule();
  }

  parked(op: ParkedOp): void {
    this.parkedOps.push(op);
    this.schedule();
  }

  get hasPendingParkedOps(): boolean {
    return this.parkedOps.length > 0;
  }

  /** Resolves once the next commit is done: what a settlement waits for. */
  whenCommitted(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.waiter === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.waiter = { promise, resolve, reject };
    }
    this.schedule();
    return this.waiter.promise;
  }

  /** Ask for retention to run with the next commit, and resolve when it has. */
  requestRetention(): Promise<void> {
    this.retentionRequested = true;
    return this.whenCommitted();
  }

  /** Commit everything queued now, synchronously, until nothing is left. */
  flush(): void {
    while (this.hasWork()) {
      if (!this.commit()) break;
    }
  }

  /** Flush, then refuse further work (settlements after this resolve at once: their state is gone). */
  close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.flush();
    this.closed = true;
  }

  private hasWork(): boolean {
    return this.rows.length > 0 || this.dirty.size > 0 || this.parkedOps.length > 0 || this.waiter !== undefined || this.retentionRequested;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(this.onImmediate);
  }

  private readonly onImmediate = (): void => {
    this.scheduled = false;
    if (this.closed || this.committing) return;
    if (this.rows.length === 0 && Date.now() < this.retryAfter) {
      // The last transaction failed (disk full, I/O error): retry state writes later, not in a tight loop.
      // New publishes still go at once, so their callers hear about a lasting failure promptly.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.schedule();
      }, this.retryAfter - Date.now());
      this.retryTimer.unref();
      return;
    }
    this.commit();
    if (this.hasWork()) this.schedule();
  };

  /** One transaction. Returns false if it failed (everything it carried was rejected or stays queued). */
  private commit(): boolean {
    if (this.committing) return false;
    this.committing = true;
    const rows = this.takeRows();
    const dirty = this.dirty;
    this.dirty = new Set();
    const parkedOps = this.parkedOps;
    this.parkedOps = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    const now = this.clock.now();
    const runRetention = this.retentionRequested || now - this.lastRetentionAt >= this.tuning.retentionIntervalMs;
    let committedByTopic: Map<TopicState, CommittedRow[]> | undefined;
    this.pendingBytes.clear();
    const started = performance.now();
    try {
      this.setSync(rows.length > 0 && this.durability === 'power' ? 'FULL' : 'NORMAL');
      this.db.transaction(() => {
        if (rows.length > 0) committedByTopic = this.writeRows(rows, now);
        for (const op of parkedOps) {
          if (op.op === 'insert') this.insertParked.run(op.groupId, op.seq, Math.ceil(op.due), op.deliveries);
          else if (op.op === 'delete') this.deleteParked.run(op.groupId, op.seq);
          else this.clearParked.run(op.groupId);
        }
        for (const group of dirty) {
          const row = group.snapshot();
          this.updateGroup.run(row.cursor, row.unsettled, group.id);
        }
        if (runRetention) this.hooks.retention(now);
      })();
    } catch (error) {
      this.committing = false;
      for (const row of rows) for (const reject of row.rejects) reject(error);
      // Group state and parked moves still describe memory: keep them for the next attempt, in order.
      for (const group of dirty) this.dirty.add(group);
      this.parkedOps = parkedOps.concat(this.parkedOps);
      waiter?.reject(error);
      this.retryAfter = Date.now() + RETRY_AFTER_FAILURE_MS;
      this.hooks.onError(error);
      return false;
    }
    this.committing = false;
    this.retryAfter = 0;
    const took = performance.now() - started;
    if (took > this.stats.longestCommitMs) this.stats.longestCommitMs = took;
    if (runRetention) {
      this.retentionRequested = false;
      this.lastRetentionAt = now;
    }
    this.stats.transactions++;
    this.hooks.afterCommit?.();
    if (committedByTopic !== undefined) {
      let messages = 0;
      for (const row of rows) {
        const { ids, resolves, firstSeq } = row;
        messages += ids.length;
        for (let i = 0; i < ids.length; i++) resolves[i]!({ id: ids[i]!, sequence: firstSeq + i });
      }
      this.stats.publishTransactions++;
      this.stats.messagesWritten += messages;
      if (messages > this.stats.largestTransaction) this.stats.largestTransaction = messages;
      for (const [topic, list] of committedByTopic) {
        const last = list[list.length - 1]!;
        topic.committedSeq = last.first_seq + last.count;
        topic.lastPublishedAt = last.published_at;
        topic.bytes += this.pendingBytes.get(topic) ?? 0;
        try {
          this.hooks.onCommitted(topic, list);
        } catch (error) {
          // The messages are stored; a group that missed them reads them from disk.
          this.hooks.onError(error);
        }
      }
    }
    waiter?.resolve();
    return true;
  }

  /** The queued rows the next transaction carries: all of them, or whole rows up to the message limit. */
  private takeRows(): QueuedRow[] {
    const limit = this.tuning.maxTransactionMessages;
    const queued = this.rows;
    let end = 0;
    let messages = 0;
    while (end < queued.length && (end === 0 || messages + queued[end]!.ids.length <= limit)) {
      messages += queued[end]!.ids.length;
      end++;
    }
    const taken = end === queued.length ? queued : queued.slice(0, end);
    this.rows = end === queued.length ? [] : queued.slice(end);
    for (const row of taken) {
      // A row in a transaction is closed: later publishes of its topic start a new one.
      if (this.openRows.get(row.topic) === row) this.openRows.delete(row.topic);
      this.rowSizeHint.set(row.topic, row.encoder.size);
    }
    return taken;
  }

  private writeRows(rows: readonly QueuedRow[], now: number): Map<TopicState, CommittedRow[]> {
    const byTopic = new Map<TopicState, CommittedRow[]>();
    for (const row of rows) {
      const topic = row.topic;
      let list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, (list = []));
      // Publish times never go backwards within a topic (time-based seek relies on it).
      const publishedAt = Math.max(Math.floor(now), topic.lastPublishedAt);
      const data = row.encoder.finish();
      const count = row.ids.length;
      this.insertBatch.run(topic.id, row.firstSeq, count, publishedAt, data.byteLength, data);
      this.stats.rowsWritten++;
      this.pendingBytes.set(topic, (this.pendingBytes.get(topic) ?? 0) + data.byteLength);
      list.push({ first_seq: row.firstSeq, count, published_at: publishedAt, data });
    }
    return byTopic;
  }

  private setSync(mode: 'NORMAL' | 'FULL'): void {
    if (mode === this.syncMode) return;
    (mode === 'FULL' ? this.syncFull : this.syncNormal).run();
    this.syncMode = mode;
  }
}
