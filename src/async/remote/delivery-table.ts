/**
 * The deliveries a server session sent and the consumer has not settled yet, by delivery id. The table
 * hands out the ids itself (1, 2, 3, … as unsigned 32-bit numbers, never 0), so the ids in use at any time
 * are nearly consecutive, and it stores them in a ring of slots indexed by the id's low bits: adding,
 * finding and removing are an array access each, where a `Map` under the same churn (one entry in and one
 * out per message) rehashed and reallocated its table every few hundred messages.
 *
 * A delivery that stays unsettled while the ids move far past it (a handler that runs for minutes while
 * others flow) would need the ring to grow to the whole span; past `MAX_SLOTS` such a straggler moves to a
 * side map instead. A ring grown that way halves again, once per ring's worth of adds, while what is
 * outstanding fits a quarter of it, so a session does not keep its largest ring for good.
 */
const INITIAL_SLOTS = 1024;
const MAX_SLOTS = 1 << 16;

export class DeliveryTable<T> {
  private ids = new Array<number>(INITIAL_SLOTS).fill(0);
  private values = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  private mask = INITIAL_SLOTS - 1;
  private readonly stragglers = new Map<number, T>();
  private last = 0;
  private count = 0;
  /** Adds since the ring last checked whether it can shrink. */
  private addsSinceCheck = 0;

  get size(): number {
    return this.count;
  }

  /** Store `value` under a new id, and return the id. */
  add(value: T): number {
    if (++this.addsSinceCheck > this.mask && this.mask + 1 > INITIAL_SLOTS) this.shrink();
    const id = (this.last = (this.last + 1) >>> 0 || 1);
    let slot = id & this.mask;
    while (this.values[slot] !== undefined && this.mask + 1 < MAX_SLOTS) {
      this.grow();
      slot = id & this.mask;
    }
    // Still taken, with the ring at its largest: the older entry is a straggler.
    if (this.values[slot] !== undefined) this.stragglers.set(this.ids[slot]!, this.values[slot]!);
    this.ids[slot] = id;
    this.values[slot] = value;
    this.count++;
    return id;
  }

  get(id: number): T | undefined {
    const slot = id & this.mask;
    if (this.ids[slot] === id) return this.values[slot];
    return this.stragglers.size === 0 ? undefined : this.stragglers.get(id);
  }

  delete(id: number): void {
    const slot = id & this.mask;
    if (this.ids[slot] === id && this.values[slot] !== undefined) {
      this.ids[slot] = 0;
      this.values[slot] = undefined;
      this.count--;
    } else if (this.stragglers.delete(id)) {
      this.count--;
    }
  }

  /** Remove every entry whose value matches. */
  deleteWhere(matches: (value: T) => boolean): void {
    for (let slot = 0; slot <= this.mask; slot++) {
      const value = this.values[slot];
      if (value !== undefined && matches(value)) this.delete(this.ids[slot]!);
    }
    for (const [id, value] of this.stragglers) if (matches(value)) this.delete(id);
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.stragglers.clear();
    this.count = 0;
  }

  /** Halve the ring while the entries in it fit a quarter of it and map to distinct slots of the half. */
  private shrink(): void {
    this.addsSinceCheck = 0;
    while (this.mask + 1 > INITIAL_SLOTS && (this.count - this.stragglers.size) * 4 <= this.mask + 1) {
      if (!this.resize((this.mask + 1) / 2)) return; // two would share a slot: stay this size
    }
  }

  /** Double the ring. Never fails: the new mask keeps the old one's bits, so distinct slots stay distinct. */
  private grow(): void {
    this.resize((this.mask + 1) * 2);
  }

  /** Move every entry to its slot in a ring of `size`; false (nothing changed) if two would share one. */
  private resize(size: number): boolean {
    const mask = size - 1;
    const ids = new Array<number>(size).fill(0);
    const values = new Array<T | undefined>(size).fill(undefined);
    for (let slot = 0; slot <= this.mask; slot++) {
      const value = this.values[slot];
      if (value === undefined) continue;
      const id = this.ids[slot]!;
      if (values[id & mask] !== undefined) return false;
      ids[id & mask] = id;
      values[id & mask] = value;
    }
    this.ids = ids;
    this.values = values;
    this.mask = mask;
    return true;
  }
}
