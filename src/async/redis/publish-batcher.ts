/**
 * Pipelined XADD: publishes issued in the same event-loop turn go to Redis as one pipeline (one write, one
 * round trip), and each publish resolves with its own reply. (ioredis's `enableAutoPipelining` would do this
 * but breaks `call`/`callBuffer`, which the adapter uses for stream commands.)
 */
import type { Redis } from 'ioredis';

interface Pending {
  readonly stream: string;
  readonly args: Array<string | Buffer>;
  readonly resolve: (entryId: string) => void;
  readonly reject: (error: unknown) => void;
}

export class PublishBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly redis: Redis,
    /** Arguments between the stream key and `*` (e.g. `MAXLEN ~ 1000`). */
    private readonly trimArgs: readonly string[],
  ) {}

  add(stream: string, fields: Array<string | Buffer>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ stream, args: fields, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /** Wait for every publish handed to Redis so far. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0) {
      if (this.queue.length > 0) this.flush();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const pipeline = this.redis.pipeline();
    for (const p of batch) pipeline.call('XADD', p.stream, ...this.trimArgs, '*', ...p.args);
    const done = pipeline.exec().then(
      (results) => {
        batch.forEach((p, i) => {
          const [error, reply] = results?.[i] ?? [new Error('redis pipeline aborted'), null];
          if (error !== null) p.reject(error);
          else p.resolve(String(reply));
        });
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
      },
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  };
}
