/**
 * Delivery attempts per record. Kafka keeps no delivery count, so the adapter counts in memory, per
 * (topic, partition, offset), for the records it redelivered itself (nack, lease expiry). A record that comes
 * back after a rebalance or restart starts again at 1 in the new consumer: a documented limit.
 */
export class AttemptCounter {
  private readonly counts = new Map<string, number>();

  /** The attempt of this delivery: 1 + the times this process redelivered the record. */
  current(topic: string, partition: number, offset: string): number {
    return (this.counts.get(`${topic}/${partition}/${offset}`) ?? 0) + 1;
  }

  /** Note that the record will be delivered again. */
  redelivering(topic: string, partition: number, offset: string): void {
    const key = `${topic}/${partition}/${offset}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The record is done (acked): forget it. */
  settled(topic: string, partition: number, offset: string): void {
    this.counts.delete(`${topic}/${partition}/${offset}`);
  }

  get size(): number {
    return this.counts.size;
  }
}
