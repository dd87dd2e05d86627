/**
 * Per-key serial processing inside one consumer, for brokers that do not order by key themselves: the work
 * for a key starts only after the previous work for that key has finished, in the order it was submitted.
 * Different keys (and messages without a key) run concurrently. A lane is forgotten once it is empty, so
 * memory follows the keys in flight, not every key ever seen.
 */
export class KeyLanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `work` after every earlier `run` of `key` has settled. Resolves or rejects with `work`. */
  run(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key);
    const result = previous === undefined ? work() : previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
