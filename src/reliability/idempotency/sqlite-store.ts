import Database from 'better-sqlite3';
import { ClosedError } from '../../core/errors.js';
import { randomHex } from '../../core/ids.js';
import type { BeginResult, IdempotencyRecord, IdempotencyStore } from './store.js';

/**
 * An `IdempotencyStore` in SQLite (better-sqlite3): keys survive a restart, and several processes on one
 * machine can share the file (each `begin` is a `BEGIN IMMEDIATE` transaction, so of two racing claims
 * exactly one wins). Pass `database` to keep the keys in the service's own database, next to the data the
 * command changes; pass `filename` to let the store open (and close) its own file in WAL mode.
 *
 * One row per key. While a request holds the key, `token` is its claim and `expires_at` the end of its
 * lease; once it completes, `token` is NULL, `outcome`/`body` hold the stored answer and `expires_at` the
 * end of the record's TTL. Expired rows are treated as absent and deleted by `purgeExpired` (and, every
 * `sweepEvery` claims, by the store itself), using the index on `expires_at`.
 */
export interface SqliteIdempotencyStoreOptions {
  /** A database file to open (`:memory:` works). Ignored when `database` is given. */
  readonly filename?: string;
  /** An open better-sqlite3 database to use (not closed by `close()`). */
  readonly database?: Database.Database;
  /** Table name. Default `courier_idempotency`. */
  readonly table?: string;
  /** Purge expired rows every this many `begin` calls. Default 1000. */
  readonly sweepEvery?: number;
}

interface Row {
  fingerprint: string;
  token: string | null;
  outcome: 'ok' | 'error' | null;
  body: string | null;
  created_at: number;
  expires_at: number;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly db: Database.Database;
  private readonly owned: boolean;
  private readonly sweepEvery: number;
  private untilSweep: number;
  private closed = false;
  private readonly select: Database.Statement<[string], Row>;
  private readonly claim: Database.Statement<[string, string, string, number, number]>;
  private readonly finish: Database.Statement<[string, string, string, number, number, string, string]>;
  private readonly drop: Database.Statement<[string, string]>;
  private readonly purge: Database.Statement<[number]>;
  private readonly beginTx: (key: string, fingerprint: string, now: number, leaseUntil: number) => BeginResult;

  constructor(options: SqliteIdempotencyStoreOptions = {}) {
    const table = options.table ?? 'courier_idempotency';
    if (!TABLE_NAME.test(table)) throw new TypeError(`invalid table name "${table}"`);
    this.owned = options.database === undefined;
    this.db = options.database ?? new Database(options.filename ?? ':memory:', { timeout: 5000 });
    if (this.owned) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.sweepEvery = options.sweepEvery ?? 1000;
    this.untilSweep = this.sweepEvery;
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ${table} (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        token TEXT,
        outcome TEXT,
        body TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${table}_expires ON ${table} (expires_at);
    `);
    this.select = this.db.prepare(
      `SELECT fingerprint, token, outcome, body, created_at, expires_at FROM ${table} WHERE key = ?`,
    );
    this.claim = this.db.prepare(
      `INSERT OR REPLACE INTO ${table} (key, fingerprint, token, outcome, body, created_at, expires_at)
       VALUES (?, ?, ?, NULL, NULL, ?, ?)`,
    );
    this.finish = this.db.prepare(
      `UPDATE ${table} SET token = NULL, fingerprint = ?, outcome = ?, body = ?, created_at = ?, expires_at = ?
       WHERE key = ? AND token = ?`,
    );
    this.drop = this.db.prepare(`DELETE FROM ${table} WHERE key = ? AND token = ?`);
    this.purge = this.db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`);
    const tx = this.db.transaction((key: string, fingerprint: string, now: number, leaseUntil: number): BeginResult => {
      const row = this.select.get(key);
      if (row !== undefined && row.expires_at > now) return stateOf(row);
      const token = randomHex(12);
      this.claim.run(key, fingerprint, token, now, leaseUntil);
      return { state: 'claimed', token };
    });
    this.beginTx = (key, fingerprint, now, leaseUntil) => tx.immediate(key, fingerprint, now, leaseUntil);
  }

  async begin(key: string, fingerprint: string, now: number, leaseUntil: number): Promise<BeginResult> {
    this.checkOpen();
    if (--this.untilSweep <= 0) {
      this.untilSweep = this.sweepEvery;
      this.purge.run(now);
    }
    return this.beginTx(key, fingerprint, now, leaseUntil);
  }

  async complete(key: string, token: string, record: IdempotencyRecord): Promise<boolean> {
    this.checkOpen();
    const r = this.finish.run(record.fingerprint, record.outcome, record.body, record.createdAt, record.expiresAt, key, token);
    return r.changes === 1;
  }

  async release(key: string, token: string): Promise<void> {
    this.checkOpen();
    this.drop.run(key, token);
  }

  async peek(key: string, now: number): Promise<Exclude<BeginResult, { state: 'claimed' }> | undefined> {
    this.checkOpen();
    const row = this.select.get(key);
    return row !== undefined && row.expires_at > now ? stateOf(row) : undefined;
  }

  async purgeExpired(now: number): Promise<number> {
    this.checkOpen();
    return this.purge.run(now).changes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('idempotency store');
  }
}

function stateOf(row: Row): Exclude<BeginResult, { state: 'claimed' }> {
  if (row.token !== null || row.outcome === null) {
    return { state: 'in-flight', fingerprint: row.fingerprint, leaseUntil: row.expires_at };
  }
  return {
    state: 'done',
    record: {
      fingerprint: row.fingerprint,
      outcome: row.outcome,
      body: row.body ?? '',
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    },
  };
}
