/**
 * The embedded broker: Courier's default broker when nothing else is configured. Durable in one directory,
 * no setup, owned by one process. SQLite (better-sqlite3) in WAL mode with group commit.
 *
 * ```ts
 * const broker = embeddedBroker({ dir: './data/broker' });            // durability 'process'
 * const strict = embeddedBroker({ dir: './data/broker', durability: 'power' });
 * ```
 *
 * ## Durability levels
 * A publish resolves only after the transaction holding it committed. What "committed" survives:
 * - **`process`** (default): the death of any process, including SIGKILL and crashes of the owner itself.
 *   SQLite WAL with `synchronous=NORMAL`: a commit is a `write()` into the WAL, which the kernel keeps
 *   after the process is gone. A power loss or kernel crash may lose the last commits (never corrupts:
 *   checkpoints still fsync).
 * - **`power`**: also power loss. `synchronous=FULL`: the WAL is fsynced before a transaction that stores
 *   messages returns, so before any publish in it resolves. Settlement-only transactions (acks, nacks)
 *   skip the fsync; after a power cut the last acks may be lost and those messages delivered again, which
 *   at-least-once allows.
 *
 * ## Model and guarantees
 * The `Broker` contract (`../broker.ts`): topics, groups (fan-out between groups, competing consumers in a
 * group), at-least-once with attempt counts, prefetch, per-key order, leases with `extend`, nack with a
 * delay, delayed publish, replay (`start`, `seek` by sequence or time), lag. A publish is stored by the
 * group-commit writer (`writer.ts`); each group dispatches from a bounded in-memory window (`group.ts`).
 * After a restart (clean or not) every acknowledged publish is present and every unacked delivery is
 * delivered again: leases are not trusted across restarts. Attempt counts survive restarts, except that
 * deliveries made in the last moments before a crash (not yet written with a later commit) are counted
 * again from their stored value. Dead letters are ordinary publishes to a topic such as `${topic}.dlq`
 * (the consumer pipeline does that). While a subscription is open the broker keeps the process alive (as
 * an open socket would); its own timers and its checkpoint thread do not.
 *
 * ## Files (`dir/`)
 * - `broker.lock`: held with an exclusive OS lock by the owning process (`database.ts`); a second
 *   process gets `BrokerDirectoryBusyError`. Released by the OS when the owner exits or is killed.
 * - `broker.db` (+ `-wal`, `-shm`): everything else, schema below. WAL checkpoints run on a worker
 *   thread with its own connection (`checkpointer.ts`), so they never stall the event loop.
 *
 * ## On-disk schema (`broker.db`, schema version 1)
 * ```
 * meta    (k TEXT PRIMARY KEY, v)                    schema_version (2; 1 is read and upgraded, see database.ts)
 * topics  (topic_id INTEGER PRIMARY KEY, name TEXT UNIQUE,
 *          first_seq INTEGER)                        lowest sequence retention kept
 * batches (batch_id INTEGER PRIMARY KEY, topic_id, first_seq, count, published_at, bytes, data BLOB)
 *          UNIQUE (topic_id, first_seq)
 *          one row = `count` consecutive messages of a topic, sequences first_seq … first_seq+count-1,
 *          all stored by one transaction at time published_at; `data` holds per message its id, key,
 *          not-before time, headers (length-prefixed strings) and body, layout in batch-codec.ts.
 *          published_at never decreases along first_seq, so time lookups binary-search the sequence index
 *          instead of paying for a time index on every publish.
 * groups  (group_id INTEGER PRIMARY KEY, topic_id, name, cursor, unsettled BLOB, created_at)
 *          UNIQUE (topic_id, name). Every message with sequence < cursor was taken by the group; of those,
 *          the ones listed in `unsettled` (window-codec.ts: runs of consecutive sequences, each with its
 *          delivery count) or in `parked` are
 *          not acked yet; all others are acked. Sequences ≥ cursor are not taken yet.
 * parked  (group_id, seq, due, deliveries) PRIMARY KEY (group_id, seq), INDEX (group_id, due)
 *          unacked unkeyed messages waiting for a time (delay, nack delay) that did not fit in memory
 * ```
 * Sequences start at 1 per topic and never go back, including after retention deleted everything.
 * Retention deletes whole batch rows (`retention.ts`); by default a message goes once every group acked it.
 *
 * ## Performance shape
 * Per transaction: one row insert per ≤256 messages of a topic (a transaction carries whole rows), one small BLOB rewrite per touched group
 * (acks cost no row of their own), parked moves if any. A caught-up group receives committed messages from
 * memory; a lagging one reads pages of at most `readAheadPage` messages, only when a subscriber has room
 * (the log reader keeps the row a page ended in, so reading in order fetches each row once).
 * Commits happen as soon as the writer is free, so a lone message is not held back waiting for company.
 * A deep queue costs nothing extra (`npm run bench -- backlog`: with 10 M messages queued, publish and
 * consume rates are those of an empty queue, RSS ~180–185 MB, opening takes no scan of the log).
 *
 * In process, 256-byte messages: ~680–760 k msg/s published and ~1.0–1.35 M msg/s consumed (backlog suite).
 * A publish is encoded into its topic's open batch row at once (`writer.ts`): no copy of its body or
 * headers and no message object waits for the commit. Served to a remote consumer with the producer in the
 * owning process (`npm run bench -- broker`), the owner's one thread does everything per message (the
 * producer's own code, publish, commit, delivery frames, settlements) for ~2.8–2.9 µs of CPU, and that
 * bounds the end-to-end rate (~300–350 k msg/s on a 2-vCPU machine). What took it there from ~4.2 µs was
 * allocation, not arithmetic: per message, a `Set` add/delete for the window and a `Map` set/delete for the
 * outstanding delivery (both rehashing their tables under that churn), a view Buffer per encoded frame,
 * and a window rewritten per entry (~12 KB, three overflow pages) by every commit that settled anything;
 * now an intrusive list (`entry-list.ts`), a ring of slots (`remote/delivery-table.ts`), no view, and a
 * run-length window of a few bytes (`window-codec.ts`). Deliveries do not wait for commits: the credit a chunk of
 * settlements returns is spent and its deliveries written before the next group commit runs
 * (`remote/framed-socket.ts`). When the producer outruns the consumer, the group's window fills and it
 * reads the rest back from disk, in order, one row per read; such a message is a `LoggedMessage` over its
 * row's bytes, decoded only if an in-process consumer reads it, and sent to a remote consumer as its
 * stored bytes (protocol 2's DELIVER_ENTRY). Keeping more of the tail in memory was measured twice and
 * dropped: as message objects it was slower, and as the committed rows' buffers (16 MiB) it gained nothing
 * end to end and added ~80 MB of RSS (retained buffers die in the old generation and wait for a major GC).
 * Running the transactions on a worker thread was measured slower too: on two cores the thread competes
 * with the consumer process, and each plan is copied to it. Storing a window's trailing run of messages
 * never delivered as the cursor before them (so that a commit walks only the delivered part) measured no
 * different end to end, and was not kept.
 *
 * Known limit: a passive checkpoint never finishes while the writer keeps appending, and SQLite restarts
 * the WAL only after one did, so under writes that never pause (a 10 M-message fill at ~330 k msg/s) the
 * WAL grows by everything written (~3 GB beside the ~3 GB database) until the writer idles for one
 * checkpoint. Finishing a checkpoint from the writer's connection bounds it but stalls the event loop for
 * the copy and fsync of the tail (0.5–0.8 s measured at that rate), so it is not done; a pause in commits
 * while the worker catches up would be the way.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import { ClosedError } from '../../core/errors.js';
import { checkOutgoing, DEFAULT_MAX_MESSAGE_BYTES, resolveSubscribeOptions } from '../adapter-kit/options.js';
import type {
  Broker,
  BrokerFeatures,
  DeliveryHandler,
  Lag,
  OutgoingMessage,
  PublishReceipt,
  StartPosition,
  SubscribeOptions,
  Subscription,
} from '../broker.js';
import type Database from 'better-sqlite3';
import { committedMessages, measureHeaders, type EncodableMessage, type LoggedMessage } from './batch-codec.js';
import { FALLBACK_AUTOCHECKPOINT_PAGES, openDatabase, type Durability } from './database.js';
import { GroupRuntime, type GroupContext } from './group.js';
import { LogReader } from './log-reader.js';
import { positiveInt, resolveTuning, type EmbeddedBrokerOptions, type ResolvedTuning } from './options.js';
import { SqliteParkedQueries } from './parked-queries.js';
import { RetentionRunner, retentionFor } from './retention.js';
import { newStats, type EmbeddedBrokerStats } from './stats.js';
import { EmbeddedSubscription } from './subscription.js';
import { TopicState } from './topic-state.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { decodeUnsettled } from './window-codec.js';
import { CommitWriter } from './writer.js';

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_BODY = new Uint8Array(0);

/** Ids and keys are stored with a 16-bit length (in UTF-16 code units). */
const MAX_ID_CHARS = 0xffff;

interface TopicRow {
  topic_id: number;
  name: string;
  first_seq: number;
}
interface GroupRow {
  group_id: number;
  topic_id: number;
  name: string;
  cursor: number;
  unsettled: Buffer | null;
}

export class EmbeddedBroker implements Broker {
  readonly name = 'embedded';
  readonly features: BrokerFeatures;
  readonly dir: string;
  readonly durability: Durability;
  private readonly clock: Clock;
  private readonly options: EmbeddedBrokerOptions;
  private readonly tuning: ResolvedTuning;
  private readonly db: Database.Database;
  private readonly counters: EmbeddedBrokerStats = newStats();
  private readonly writer: CommitWriter;
  private readonly checkpointer: BackgroundCheckpointer;
  private readonly unlock: () => void;
  private readonly ctx: GroupContext;
  private readonly retention: RetentionRunner;
  /** The message being handed to the writer (see `publish`). */
  private readonly encodable: { -readonly [K in keyof EncodableMessage]: EncodableMessage[K] } = {
    id: '',
    key: undefined,
    headers: NO_HEADERS,
    headerCount: 0,
    headerChars: 0,
    body: NO_BODY,
    notBefore: 0,
  };
  private readonly topics = new Map<string, TopicState>();
  private readonly subscriptions = new Set<EmbeddedSubscription>();
  private readonly insertTopic: Database.Statement<[string], number>;
  private readonly insertGroup: Database.Statement<[number, string, number, number], number>;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Held while a subscription is open, so a process that only consumes does not exit under it. */
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(options: EmbeddedBrokerOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('embeddedBroker: `dir` is required');
    this.options = options;
    this.dir = options.dir;
    this.durability = options.durability ?? 'process';
    if (this.durability !== 'process' && this.durability !== 'power') throw new TypeError(`embeddedBroker: unknown durability ${String(this.durability)}`);
    this.clock = options.clock ?? systemClock;
    this.tuning = resolveTuning(options.tuning);
    this.features = embeddedFeatures(options);
    const opened = openDatabase({ dir: this.dir, durability: this.durability });
    this.db = opened.db;
    this.unlock = opened.unlock;
    try {
      this.insertTopic = this.db.prepare<[string], number>('INSERT INTO topics (name) VALUES (?) RETURNING topic_id').pluck();
      this.insertGroup = this.db
        .prepare<[number, string, number, number], number>('INSERT INTO groups (topic_id, name, cursor, unsettled, created_at) VALUES (?, ?, ?, NULL, ?) RETURNING group_id')
        .pluck();
      const parkedQueries = new SqliteParkedQueries(this.db);
      const reader = new LogReader(this.db, this.counters);
      this.retention = new RetentionRunner(this.db, reader, (groupId) => parkedQueries.minSeq(groupId));
      const onError = options.onError ?? reportError;
      const checkpointer = new BackgroundCheckpointer(opened.file, this.durability, (error) => {
        // Without the worker, let SQLite checkpoint on this connection (stalls the writer now and then).
        onError(error);
        if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      });
      this.checkpointer = checkpointer;
      this.writer = new CommitWriter(this.db, this.durability, this.clock, this.tuning, this.counters, {
        onError,
        afterCommit: () => checkpointer.noteCommit(),
        onCommitted: (topic, rows) => {
          // Decoded once, and only if a caught-up group takes them (a lagging one reads them from disk).
          let messages: LoggedMessage[] | undefined;
          const first = rows[0]!.first_seq;
          const last = rows[rows.length - 1]!;
          const count = last.first_seq + last.count - first;
          for (const group of topic.groups.values()) group.offer(first, count, () => (messages ??= committedMessages(rows)));
        },
        retention: (now) => {
          for (const topic of this.topics.values()) this.counters.retentionDeleted += this.retention.apply(topic, now);
        },
      });
      this.ctx = {
        clock: this.clock,
        reader,
        writer: this.writer,
        tuning: this.tuning,
        stats: this.counters,
        parkedQueries,
        onError,
      };
      this.load();
    } catch (error) {
      this.db.close();
      this.unlock();
      throw error;
    }
  }

  publish(topic: string, message: OutgoingMessage): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(new ClosedError('embedded broker'));
    const body = message.body;
    let measured: { count: number; chars: number };
    let t: TopicState;
    try {
      checkOutgoing(topic, message, this.features.maxMessageBytes); // the same checks as every adapter
      checkShortString(message.id, 'message id');
      if (message.key !== undefined) checkShortString(message.key, 'message key');
      measured = measureHeaders(message.headers ?? {});
      t = this.topicFor(topic);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const delayMs = message.delayMs;
    // Encoded into its batch row now: the publisher may reuse its buffers once publish returns, and the
    // writer keeps nothing of `encodable`, so one object serves every publish.
    const e = this.encodable;
    e.id = message.id;
    e.key = message.key;
    e.headers = message.headers ?? NO_HEADERS;
    e.headerCount = measured.count;
    e.headerChars = measured.chars;
    e.body = body;
    e.notBefore = delayMs !== undefined && delayMs > 0 ? this.clock.now() + delayMs : 0;
    try {
      return this.writer.publish(t, t.nextSeq++, e);
    } finally {
      e.body = NO_BODY; // hold no reference to the caller's buffer or headers
      e.headers = NO_HEADERS;
    }
  }

  async subscribe(topic: string, options: SubscribeOptions, handler: DeliveryHandler): Promise<Subscription> {
    if (this.closed) throw new ClosedError('embedded broker');
    const { group: groupName, prefetch, leaseMs, start } = resolveSubscribeOptions(topic, options, handler);
    const t = this.topicFor(topic);
    const group = t.groups.get(groupName) ?? this.createGroup(t, groupName, start);
    const subscription = new EmbeddedSubscription(group, prefetch, leaseMs, handler, (s) => this.forget(s));
    this.subscriptions.add(subscription);
    this.keepAlive ??= setInterval(() => undefined, 1 << 30);
    group.addSubscriber(subscription);
    return subscription;
  }

  async seek(topic: string, group: string, position: StartPosition): Promise<void> {
    if (this.closed) throw new ClosedError('embedded broker');
    const t = this.topicFor(topic);
    const seq = this.positionToSeq(t, position);
    const g = t.groups.get(group);
    if (g === undefined) this.createGroup(t, group, { from: 'sequence', sequence: seq });
    else g.reset(seq);
    await this.writer.whenCommitted();
  }

  async lag(topic: string, group: string): Promise<Lag> {
    if (this.closed) throw new ClosedError('embedded broker');
    const g = this.topics.get(topic)?.groups.get(group);
    return g === undefined ? { pending: 0, inFlight: 0, oldestAgeMs: undefined } : g.lag();
  }

  /** Run retention now (it also runs by itself, at most once per `retentionIntervalMs`, with a commit). */
  applyRetention(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('embedded broker'));
    return this.writer.requestRetention();
  }

  /** A copy of the broker's internal counters (batching, read-ahead, window sizes). */
  stats(): EmbeddedBrokerStats {
    return { ...this.counters, checkpoints: this.checkpointer.completed };
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    try {
      await Promise.all([...this.subscriptions].map((s) => s.close()));
      for (const topic of this.topics.values()) for (const group of topic.groups.values()) group.close();
      this.writer.close();
    } finally {
      await this.checkpointer.close();
      this.db.close();
      this.unlock();
    }
  }

  private forget(subscription: EmbeddedSubscription): void {
    this.subscriptions.delete(subscription);
    if (this.subscriptions.size === 0 && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private load(): void {
    // Per topic: its end from the (topic_id, first_seq) index, O(log n). Its byte count only where a
    // `maxBytes` retention needs it: summing reads every batch row of the topic (~240 ms at 10 M messages),
    // and a startup scan would make opening the broker slower the deeper its queues are.
    const endOf = this.db.prepare<[number], number>('SELECT first_seq + count FROM batches WHERE topic_id = ? ORDER BY first_seq DESC LIMIT 1').pluck();
    const bytesOf = this.db.prepare<[number], number | null>('SELECT sum(bytes) FROM batches WHERE topic_id = ?').pluck();
    const byId = new Map<number, TopicState>();
    for (const row of this.db.prepare<[], TopicRow>('SELECT topic_id, name, first_seq FROM topics').all()) {
      const retention = retentionFor(this.options.retention, row.name);
      const nextSeq = Math.max(endOf.get(row.topic_id) ?? 1, row.first_seq);
      const bytes = retention.maxBytes === undefined ? 0 : (bytesOf.get(row.topic_id) ?? 0);
      const topic = new TopicState(row.topic_id, row.name, { nextSeq, firstSeq: row.first_seq, bytes }, retention);
      this.topics.set(row.name, topic);
      byId.set(row.topic_id, topic);
    }
    const rows = this.db.prepare<[], GroupRow>('SELECT group_id, topic_id, name, cursor, unsettled FROM groups').all();
    for (const row of rows) {
      const topic = byId.get(row.topic_id);
      if (topic === undefined) continue;
      const group = new GroupRuntime(row.group_id, row.name, topic, row.cursor, this.ctx);
      topic.groups.set(row.name, group);
      group.restore(decodeUnsettled(row.cursor, row.unsettled));
    }
  }

  private topicFor(name: string): TopicState {
    const existing = this.topics.get(name);
    if (existing !== undefined) return existing;
    if (typeof name !== 'string' || name === '') throw new TypeError('topic name must be a non-empty string');
    const id = this.insertTopic.get(name)!;
    const topic = new TopicState(id, name, { nextSeq: 1, firstSeq: 1, bytes: 0 }, retentionFor(this.options.retention, name));
    this.topics.set(name, topic);
    return topic;
  }

  private createGroup(topic: TopicState, name: string, start: StartPosition): GroupRuntime {
    const cursor = this.positionToSeq(topic, start);
    const id = this.insertGroup.get(topic.id, name, cursor, Math.floor(this.clock.now()))!;
    const group = new GroupRuntime(id, name, topic, cursor, this.ctx);
    topic.groups.set(name, group);
    return group;
  }

  private positionToSeq(topic: TopicState, position: StartPosition): number {
    switch (position.from) {
      case 'latest':
        return topic.nextSeq;
      case 'earliest':
        return topic.firstSeq;
      case 'sequence': {
        const seq = Number(position.sequence);
        if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`invalid start sequence ${String(position.sequence)}`);
        return seq;
      }
      case 'time': {
        // A batch may start before firstSeq (retention cuts inside it): search from its possible start.
        const seq = this.ctx.reader.firstSeqAtTime(topic.id, position.time, 1, topic.committedSeq);
        return seq === undefined ? topic.committedSeq : Math.max(seq, topic.firstSeq);
      }
      default:
        throw new TypeError(`unknown start position ${JSON.stringify(position)}`);
    }
  }
}

/**
 * The feature manifest of an embedded broker with these options (no broker needed). `replay` is true:
 * `seek` and `start` reach every message still stored; with the default retention that is what some group
 * has not acked yet (plus everything on a topic no group reads), so replaying acked messages needs
 * `retention: { deleteAcked: false }` (a stream).
 */
export function embeddedFeatures(options: Pick<EmbeddedBrokerOptions, 'durability' | 'maxMessageBytes'> = {}): BrokerFeatures {
  return {
    persistence: options.durability ?? 'process',
    orderingByKey: true,
    replay: true,
    delay: true,
    dedup: false,
    competingConsumers: true,
    fanOut: true,
    leaseExtension: true,
    maxMessageBytes: positiveInt(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'),
  };
}

/** Open (or create) the embedded broker in `options.dir`. Throws `BrokerDirectoryBusyError` if it is owned. */
export function embeddedBroker(options: EmbeddedBrokerOptions): EmbeddedBroker {
  return new EmbeddedBroker(options);
}

function reportError(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'COURIER_EMBEDDED_BROKER' });
}

function checkShortString(value: unknown, what: string): void {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  if (value.length > MAX_ID_CHARS) throw new RangeError(`${what} longer than ${MAX_ID_CHARS} characters`);
}
