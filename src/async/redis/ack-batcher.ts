/**
 * Batched XACK: the acks of one consumer issued in the same event-loop turn go to Redis as one XACK
 * carrying all their entry ids (in chunks of at most MAX_IDS), and each ack resolves when the XACK holding
 * it replied. A consumer that handles a read batch of 500 entries sends one command instead of 500: one
 * write, one reply, and far less work for Redis and for the client. (`npm run bench -- adapters`: with one
 * XACK per message the adapter ran end to end at 0.40× of raw ioredis acking once per read batch; batched,
 * 160 000 messages took 331 XACKs and the adapter ran at 0.5–0.7×.)
 */
import type { Redis } from 'ioredis';

/** Most ids in one XACK. */
const MAX_IDS = 1024;

interface Batch {
  readonly ids: string[];
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

export class AckBatcher {
  private batch: Batch | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly group: string,
  ) {}

  /** XACK `entryId` with the others of this turn; resolves once Redis replied. */
  ack(entryId: string): Promise<void> {
    let batch = this.batch;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.batch = { ids: [], done, resolve, reject };
      setImmediate(this.flush);
    }
    batch.ids.push(entryId);
    return batch.done;
  }

  /** Send what is queued now and wait for every XACK sent so far. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }

  private readonly flush = (): void => {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < batch.ids.length; i += MAX_IDS) sent.push(this.redis.xack(this.stream, this.group, ...batch.ids.slice(i, i + MAX_IDS)));
    const all = Promise.all(sent).then(
      () => batch.resolve(),
      (error: unknown) => batch.reject(error),
    );
    this.inFlight.add(all);
    void all.finally(() => this.inFlight.delete(all));
  };
}
