/**
 * Collects fire-and-forget broker writes (JetStream acks, say) made during one event-loop turn and sends
 * them together at the next `setImmediate`.
 *
 * Why: client libraries such as nats.js write their pending output to the socket once per microtask
 * checkpoint that has output. Handlers settle their deliveries in separate promise chains, so without
 * this each ack lands after the previous flush and costs a socket write of its own (measured: half of a
 * JetStream consumer's CPU was `writeBuffer`, one write per ack). Sending the turn's acks back to back lets
 * the client put them in one write.
 *
 * Contract: `add` returns a promise shared by every item of the same turn; it resolves once `send` has been
 * called for all of them, or rejects with the first error `send` threw (the items after it are still sent).
 * The delay is one turn of the event loop, never a timer.
 */
export class TurnBatch<T> {
  private items: T[] = [];
  private settled: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  private pending: Promise<void> | undefined;

  /**
   * `send` sends one item. `wrap`, if given, runs around the sending of a whole batch (e.g. to cork and
   * uncork a socket so that the batch leaves in one write).
   */
  constructor(
    private readonly send: (item: T) => void,
    private readonly wrap: (sendAll: () => void) => void = (sendAll) => sendAll(),
  ) {}

  add(item: T): Promise<void> {
    this.items.push(item);
    if (this.pending === undefined) {
      this.pending = new Promise<void>((resolve, reject) => (this.settled = { resolve, reject }));
      setImmediate(this.flush);
    }
    return this.pending;
  }

  /** Send what is queued now (e.g. before a close). */
  readonly flush = (): void => {
    const items = this.items;
    const settled = this.settled;
    this.items = [];
    this.settled = undefined;
    this.pending = undefined;
    if (items.length === 0) return;
    let failure: { error: unknown } | undefined;
    const sendAll = (): void => {
      for (const item of items) {
        try {
          this.send(item);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    try {
      this.wrap(sendAll);
    } catch (error) {
      failure ??= { error };
    }
    if (failure === undefined) settled?.resolve();
    else settled?.reject(failure.error);
  };
}
