import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DeliveryTable } from '../../../src/async/remote/delivery-table.js';

describe('DeliveryTable', () => {
  it('agrees with a Map under any mix of adds and removes, stragglers included', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat(5000)), { maxLength: 3000 }), (ops) => {
        const table = new DeliveryTable<string>();
        const model = new Map<number, string>();
        const live: number[] = [];
        for (const op of ops) {
          if (op === -1 || live.length === 0) {
            const value = `v${live.length}-${model.size}`;
            const id = table.add(value);
            expect(model.has(id)).toBe(false);
            model.set(id, value);
            live.push(id);
          } else {
            const id = live.splice(op % live.length, 1)[0]!;
            table.delete(id);
            model.delete(id);
          }
          expect(table.size).toBe(model.size);
        }
        for (const [id, value] of model) expect(table.get(id)).toBe(value);
        for (const id of [0, 999_999]) expect(table.get(id)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });

  it('keeps a straggler findable after the ids moved far past it, with the ring bounded', () => {
    const table = new DeliveryTable<number>();
    const straggler = table.add(-1);
    for (let i = 0; i < 300_000; i++) table.delete(table.add(i));
    expect(table.get(straggler)).toBe(-1);
    expect(table.size).toBe(1);
    const ring = (table as unknown as { ids: number[] }).ids.length;
    expect(ring).toBeLessThanOrEqual(1 << 16);
    table.delete(straggler);
    expect(table.get(straggler)).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it('shrinks back once a long-unsettled delivery is gone, and keeps every entry findable while it does', () => {
    const table = new DeliveryTable<number>();
    const ringSize = () => (table as unknown as { ids: number[] }).ids.length;
    const slow = table.add(-1);
    for (let i = 0; i < 40_000; i++) table.delete(table.add(i));
    expect(ringSize()).toBe(1 << 16);
    table.delete(slow);
    const live: number[] = [];
    for (let i = 0; i < 300_000; i++) {
      live.push(table.add(i));
      if (live.length > 300) table.delete(live.shift()!);
    }
    expect(ringSize()).toBe(1024);
    for (const [n, id] of live.entries()) expect(table.get(id)).toBe(300_000 - live.length + n);
    expect(table.size).toBe(live.length);
  });

  it('never hands out 0, and deleteWhere removes exactly the matching entries', () => {
    const table = new DeliveryTable<{ sub: string }>();
    const ids = Array.from({ length: 3000 }, (_, i) => table.add({ sub: i % 3 === 0 ? 'a' : 'b' }));
    expect(ids).not.toContain(0);
    table.deleteWhere((v) => v.sub === 'a');
    expect(table.size).toBe(2000);
    for (const [i, id] of ids.entries()) expect(table.get(id)?.sub).toBe(i % 3 === 0 ? undefined : 'b');
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(ids[1]!)).toBeUndefined();
  });
});
