/**
 * An intrusive doubly linked list: a group's window, in the order its messages were taken.
 *
 * Why not a `Set`: every message of a topic passes through a window once (added when taken, removed when
 * acked), and a `Set` of a few thousand objects under that churn rehashes its table every few thousand
 * operations, each time allocating a new one: measured as ~8% of the owning process's allocations in the
 * broker benchmark. Links kept on the entries themselves make add and remove two pointer writes, with
 * nothing allocated.
 *
 * Contract: a node is in at most one list at a time (the list does not check). Iteration yields nodes in
 * insertion order; removing the node just yielded, or any node already yielded, during iteration is safe.
 */
export interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
}

export class EntryList<T extends Linked<T>> implements Iterable<T> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Append `node` (not in any list). */
  add(node: T): void {
    node.prev = this.tail;
    node.next = undefined;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.count++;
  }

  /** Unlink `node`, which must be in this list. */
  delete(node: T): void {
    const { prev, next } = node;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    node.prev = undefined;
    node.next = undefined;
    this.count--;
  }

  clear(): void {
    let node = this.head;
    while (node !== undefined) {
      const next: T | undefined = node.next;
      node.prev = undefined;
      node.next = undefined;
      node = next;
    }
    this.head = undefined;
    this.tail = undefined;
    this.count = 0;
  }

  [Symbol.iterator](): Iterator<T> {
    return new ListIterator(this.head);
  }
}

/**
 * Walks the links; one object per loop. A generator allocated a result object per step, and the window is
 * walked whole by every commit that stores it (thousands of entries). The result object is reused: `for…of`
 * and spreading read it before asking for the next.
 */
class ListIterator<T extends Linked<T>> implements Iterator<T> {
  private readonly step: { done: boolean; value: T | undefined } = { done: false, value: undefined };

  constructor(private node: T | undefined) {}

  next(): IteratorResult<T> {
    const node = this.node;
    if (node === undefined) {
      this.step.done = true;
      this.step.value = undefined;
    } else {
      // Read the successor first: the caller may unlink `node` before asking for the next one.
      this.node = node.next;
      this.step.value = node;
    }
    return this.step as IteratorResult<T>;
  }
}
