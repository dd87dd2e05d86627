/**
 * Reads of the `parked` table (unacked messages waiting for a time, spilled out of a full window). Writes
 * go through the group-commit writer so they commit atomically with the group's window.
 */
import type Database from 'better-sqlite3';
import type { ParkedQueries } from './group.js';

export class SqliteParkedQueries implements ParkedQueries {
  private readonly dueStmt: Database.Statement<[number, number, number], { seq: number; deliveries: number }>;
  private readonly nextDueStmt: Database.Statement<[number, number], number | null>;
  private readonly countStmt: Database.Statement<[number], number>;
  private readonly minSeqStmt: Database.Statement<[number], number | null>;

  constructor(db: Database.Database) {
    this.dueStmt = db.prepare('SELECT seq, deliveries FROM parked WHERE group_id = ? AND due <= ? ORDER BY due, seq LIMIT ?');
    this.nextDueStmt = db.prepare<[number, number], number | null>('SELECT min(due) FROM parked WHERE group_id = ? AND due > ?').pluck();
    this.countStmt = db.prepare<[number], number>('SELECT count(*) FROM parked WHERE group_id = ?').pluck();
    this.minSeqStmt = db.prepare<[number], number | null>('SELECT min(seq) FROM parked WHERE group_id = ?').pluck();
  }

  due(groupId: number, now: number, limit: number): { seq: number; deliveries: number }[] {
    return this.dueStmt.all(groupId, Math.floor(now), limit);
  }

  nextDue(groupId: number, after: number): number | undefined {
    return this.nextDueStmt.get(groupId, Number.isFinite(after) ? Math.floor(after) : Number.MIN_SAFE_INTEGER) ?? undefined;
  }

  count(groupId: number): number {
    return this.countStmt.get(groupId) ?? 0;
  }

  minSeq(groupId: number): number | undefined {
    return this.minSeqStmt.get(groupId) ?? undefined;
  }
}
