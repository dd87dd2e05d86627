/**
 * When did this message first fail? The broker counts attempts but keeps no times, so each consumer
 * remembers the first failure it saw of each message it is retrying, for the DLQ record. Bounded (oldest
 * forgotten first): a message whose earlier attempts ran on another consumer, or were forgotten, reports
 * the earliest failure this consumer saw.
 */
export class FailureMemory {
  private readonly firstFailure = new Map<string, number>();

  constructor(private readonly limit = 10_000) {}

  /** Note a failure of `id` at `now`; returns the first failure time known for it. */
  record(id: string, now: number): number {
    const known = this.firstFailure.get(id);
    if (known !== undefined) return known;
    if (this.firstFailure.size >= this.limit) {
      const oldest = this.firstFailure.keys().next();
      if (oldest.done !== true) this.firstFailure.delete(oldest.value);
    }
    this.firstFailure.set(id, now);
    return now;
  }

  /** The message is done (handled or dead-lettered). */
  forget(id: string): void {
    this.firstFailure.delete(id);
  }

  get size(): number {
    return this.firstFailure.size;
  }
}
