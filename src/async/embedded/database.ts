/**
 * Opening the embedded broker's SQLite files: pragmas, exclusive ownership, schema. The schema itself is
 * documented in `embedded-broker.ts` (the module users read); this file must stay in step with it.
 *
 * Ownership: `dir/broker.lock` is a tiny SQLite file that the owner opens with `locking_mode=EXCLUSIVE` and
 * writes to, which takes an OS lock it holds until it closes. A second process (or a second broker in this
 * process) opening the directory fails at once with `BrokerDirectoryBusyError` instead of the two starving
 * each other; the OS drops the lock when the owner dies, even by SIGKILL, so nothing stale is left behind.
 * `broker.db` itself uses normal locking, so that the background checkpointer (`checkpointer.ts`) can open
 * a second connection to it.
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

/**
 * Version 2: a group's `unsettled` window is run-length encoded (`window-codec.ts`). This version still
 * reads version 1 (its per-entry windows decode as before) and upgrades the stored number on open; a
 * version-1 build refuses a version-2 directory instead of reading its windows as empty, which would
 * treat every unacked message of them as acked.
 */
export const SCHEMA_VERSION = 2;
/** Versions this build opens (and upgrades to `SCHEMA_VERSION`). */
const READABLE_VERSIONS: readonly number[] = [1, 2];

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

export interface OpenedDatabase {
  readonly db: Database.Database;
  readonly file: string;
  /** Release ownership (after `db` is closed). */
  readonly unlock: () => void;
}

/**
 * SQLite's own checkpoint threshold, used only when the background checkpointer is unavailable: each such
 * checkpoint stalls the writer, and what it copies is mostly distinct log pages, so rarer is better.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 16000;

/** Take ownership of `dir`, open (creating if needed) `dir/broker.db` and apply the schema. */
export function openDatabase({ dir, durability }: OpenOptions): OpenedDatabase {
  mkdirSync(dir, { recursive: true });
  const lock = takeOwnership(dir);
  const file = join(dir, 'broker.db');
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 5000 });
  } catch (error) {
    lock.close();
    throw error;
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
    db.pragma('wal_autocheckpoint = 0'); // checkpoints run on a worker thread (checkpointer.ts)
    db.pragma('journal_size_limit = 67108864');
    db.pragma('cache_size = -32768');
    db.pragma('temp_store = MEMORY');
    db.exec(DDL);
    const version = db.prepare(`SELECT v FROM meta WHERE k = 'schema_version'`).pluck().get() as number | undefined;
    if (version === undefined) {
      db.prepare(`INSERT INTO meta (k, v) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
    } else if (!READABLE_VERSIONS.includes(version)) {
      throw new CourierError('BROKER_SCHEMA_MISMATCH', `embedded broker schema version ${version} in ${dir}, expected ${SCHEMA_VERSION}`);
    } else if (version !== SCHEMA_VERSION) {
      db.prepare(`UPDATE meta SET v = ? WHERE k = 'schema_version'`).run(SCHEMA_VERSION);
    }
  } catch (error) {
    db.close();
    lock.close();
    throw error;
  }
  return { db, file, unlock: () => lock.close() };
}

/** Hold `dir/broker.lock` exclusively (an OS lock, released by close or by the process dying). */
function takeOwnership(dir: string): Database.Database {
  const lock = new Database(join(dir, 'broker.lock'), { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL)');
    // The write takes the exclusive lock now and keeps it until the connection closes.
    lock.prepare('INSERT INTO owner (pid) VALUES (?)').run(process.pid);
    lock.prepare('DELETE FROM owner WHERE pid != ?').run(process.pid);
  } catch (error) {
    lock.close();
    if (isBusy(error)) throw new BrokerDirectoryBusyError(dir, { cause: error });
    throw error;
  }
  return lock;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}
