/**
 * The inbox hook: dedup by message id, per consumer group, before the handler runs. The pipeline asks
 * `check` before the handler and calls `commit` only after the handler succeeded, so a failed attempt never
 * marks a message as done. Courier's inbox stores (memory, SQLite, PostgreSQL) implement this; a store that
 * commits inside the handler's own database transaction can make processing effectively exactly-once.
 *
 * `check` is a read: two deliveries of one message racing on two consumers may both see `new` (the broker is
 * at-least-once); a store that needs stronger guarantees claims the id in `check` and makes `commit` final.
 */
export type InboxStatus = 'new' | 'duplicate';

export interface Inbox {
  /** Has `group` already processed `messageId` (the envelope's `id`)? */
  check(messageId: string, group: string): Promise<InboxStatus>;
  /** Record that `group` processed `messageId`. Called after the handler succeeded, before the ack. */
  commit(messageId: string, group: string): Promise<void>;
}
