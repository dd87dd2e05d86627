import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EntryList, type Linked } from '../../../src/async/embedded/entry-list.js';

class Node implements Linked<Node> {
  prev: Node | undefined;
  next: Node | undefined;
  constructor(readonly n: number) {}
}

const values = (list: EntryList<Node>): number[] => [...list].map((x) => x.n);

describe('EntryList', () => {
  it('behaves like an insertion-ordered set under any mix of adds and removes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(40)), { maxLength: 200 }), (ops) => {
        const list = new EntryList<Node>();
        const model = new Set<number>();
        const nodes = new Map<number, Node>();
        for (const [add, n] of ops) {
          if (add && !model.has(n)) {
            const node = new Node(n);
            nodes.set(n, node);
            list.add(node);
            model.add(n);
          } else if (!add && model.has(n)) {
            list.delete(nodes.get(n)!);
            model.delete(n);
          }
          expect(list.size).toBe(model.size);
        }
        expect(values(list)).toEqual([...model]);
      }),
    );
  });

  it('lets the loop remove the node it is at', () => {
    const list = new EntryList<Node>();
    const nodes = [1, 2, 3, 4, 5].map((n) => new Node(n));
    for (const node of nodes) list.add(node);
    const seen: number[] = [];
    for (const node of list) {
      seen.push(node.n);
      if (node.n % 2 === 1) list.delete(node);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(values(list)).toEqual([2, 4]);
  });

  it('clear empties it and unlinks every node, which can then join again', () => {
    const list = new EntryList<Node>();
    const a = new Node(1);
    const b = new Node(2);
    list.add(a);
    list.add(b);
    list.clear();
    expect(list.size).toBe(0);
    expect(values(list)).toEqual([]);
    expect(a.next).toBeUndefined();
    expect(b.prev).toBeUndefined();
    list.add(b);
    expect(values(list)).toEqual([2]);
  });
});
