/**
 * `Broker.lag` for Kafka:
 * - pending = Σ over partitions (high watermark − the group's committed offset, or − the low watermark where
 *   the group has committed nothing), minus this process's unsettled deliveries (which Kafka counts as not
 *   committed, but which are delivered);
 * - inFlight = this process's unsettled deliveries (Kafka does not know what a consumer holds);
 * - oldestAgeMs is unknown (it would need a fetch per partition).
 */
import type { Admin } from 'kafkajs';
import type { Lag } from '../broker.js';

export interface PartitionOffsets {
  readonly partition: number;
  readonly high: string;
  readonly low: string;
}

export interface CommittedOffset {
  readonly partition: number;
  /** `-1` when the group has committed nothing for the partition. */
  readonly offset: string;
}

export function pendingFrom(topicOffsets: readonly PartitionOffsets[], committed: readonly CommittedOffset[]): number {
  const byPartition = new Map(committed.map((c) => [c.partition, BigInt(c.offset)]));
  let pending = 0n;
  for (const p of topicOffsets) {
    const high = BigInt(p.high);
    const low = BigInt(p.low);
    const from = byPartition.get(p.partition) ?? -1n;
    const start = from < 0n ? low : from < low ? low : from;
    if (high > start) pending += high - start;
  }
  return Number(pending);
}

export async function kafkaLag(admin: Admin, topic: string, group: string, localInFlight: number): Promise<Lag> {
  const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
  const partitions = committed.find((t) => t.topic === topic)?.partitions ?? [];
  const uncommitted = pendingFrom(offsets, partitions);
  return { pending: Math.max(0, uncommitted - localInFlight), inFlight: localInFlight, oldestAgeMs: undefined };
}
