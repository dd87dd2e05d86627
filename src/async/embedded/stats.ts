/**
 * Counters the embedded broker keeps about its own work. Tests use them to check properties that timing
 * cannot show reliably (group commit actually batches; read-ahead stays within its page bound); operators
 * can read them to see batch sizes.
 */
export interface EmbeddedBrokerStats {
  /** Transactions committed by the group-commit writer. */
  transactions: number;
  /** Of those, transactions that stored at least one published message. */
  publishTransactions: number;
  /** Messages stored. */
  messagesWritten: number;
  /** Batch rows stored (several messages per row). */
  rowsWritten: number;
  /** Largest number of messages stored by one transaction. */
  largestTransaction: number;
  /** Longest time one transaction took to run and commit, in ms (includes the fsync at `power`). */
  longestCommitMs: number;
  /** Page reads from the log by the dispatcher (a group catching up from disk). */
  pageReads: number;
  /** Messages decoded from the log (page reads, parked and restored messages). */
  messagesRead: number;
  /** Largest number of messages decoded by one page read. */
  largestPage: number;
  /** Largest in-memory window of any group (messages held in memory for it at once). */
  largestWindow: number;
  /** Delayed messages spilled to the `parked` table because the window was full. */
  parked: number;
  /** Messages deleted by retention. */
  retentionDeleted: number;
  /** WAL checkpoints completed by the background checkpointer. */
  checkpoints: number;
}

export function newStats(): EmbeddedBrokerStats {
  return {
    transactions: 0,
    publishTransactions: 0,
    messagesWritten: 0,
    rowsWritten: 0,
    largestTransaction: 0,
    longestCommitMs: 0,
    pageReads: 0,
    messagesRead: 0,
    largestPage: 0,
    largestWindow: 0,
    parked: 0,
    retentionDeleted: 0,
    checkpoints: 0,
  };
}
