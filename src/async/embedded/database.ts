/**
 * Opening the embedded broker's SQLite file: pragmas, exclusive ownership, schema. The schema itself is
 * documented in `embedded-broker.ts` (the module users read); this file must stay in step with it.
 *
 * Ownership: the connection uses `locking_mode=EXCLUSIVE` and takes the write lock at open, so a second
 * process (or a second broker in this process) opening the same directory fails at once with
 * `BrokerDirectoryBusyError` instead of the two starving each other. The OS drops the lock when the owner
 * dies, even by SIGKILL, so there is no stale lock file to clean up. In exclusive mode SQLite keeps the WAL
 * index in heap memory instead of a shared-memory file, which also makes each transaction a little cheaper.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CourierError } from '../../core/errors.js';

export type Durability = 'process' | 'power';

/** Another process (or another broker instance) already owns the directory. */
export class BrokerDirectoryBusyError extends CourierError {
  constructor(readonly dir: string, options: { cause?: unknown } = {}) {
    super('BROKER_DIRECTORY_BUSY', `embedded broker directory ${dir} is owned by another process or broker instance`, {
      retryable: true,
      ...options,
    });
  }
}

export const SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  k TEXT PRIMARY KEY,
  v ANY
) STRICT;
CREATE TABLE IF NOT EXISTS topics (
  topic_id  INTEGER PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,
  first_seq INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE TABLE IF NOT EXISTS batches (
  batch_id     INTEGER PRIMARY KEY,
  topic_id     INTEGER NOT NULL,
  first_seq    INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  published_at INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  data         BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_topic_seq ON batches (topic_id, first_seq);
CREATE TABLE IF NOT EXISTS groups (
  group_id   INTEGER PRIMARY KEY,
  topic_id   INTEGER NOT NULL,
  name       TEXT NOT NULL,
  cursor     INTEGER NOT NULL,
  unsettled  BLOB,
  created_at INTEGER NOT NULL,
  UNIQUE (topic_id, name)
) STRICT;
CREATE TABLE IF NOT EXISTS parked (
  group_id   INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  due        INTEGER NOT NULL,
  deliveries INTEGER NOT NULL,
  PRIMARY KEY (group_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parked_by_due ON parked (group_id, due);
`;

export interface OpenOptions {
  readonly dir: string;
  readonly durability: Durability;
}

/** Open (creating if needed) `dir/broker.db`, take ownership, apply the schema. */
export function openDatabase({ dir, durability }: OpenOptions): Database.Database {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'broker.db'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
    // Fewer, larger checkpoints: the log is append-mostly, so a bigger WAL costs little and saves copying.
    db.pragma('wal_autocheckpoint = 4000');
    db.pragma('journal_size_limit = 67108864');
    db.pragma('cache_size = -32768');
    db.pragma('temp_store = MEMORY');
    db.exec(DDL);
    const version = db.prepare(`SELECT v FROM meta WHERE k = 'schema_version'`).pluck().get() as number | undefined;
    if (version === undefined) {
      db.prepare(`INSERT INTO meta (k, v) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
    } else if (version !== SCHEMA_VERSION) {
      throw new CourierError('BROKER_SCHEMA_MISMATCH', `embedded broker schema version ${version} in ${dir}, expected ${SCHEMA_VERSION}`);
    }
    // A write takes the exclusive lock now (not at the first publish) and records who holds it.
    db.prepare(`INSERT OR REPLACE INTO meta (k, v) VALUES ('owner_pid', ?)`).run(process.pid);
  } catch (error) {
    db.close();
    if (isBusy(error)) throw new BrokerDirectoryBusyError(dir, { cause: error });
    throw error;
  }
  return db;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
