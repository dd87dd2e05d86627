import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentRows, type RecentRow } from '../../../src/async/embedded/recent-rows.js';

/** A row of `count` messages from `first`, with a buffer of its own of `bytes` bytes. */
function row(first: number, count: number, at = first, bytes = 1000): RecentRow {
  return { first_seq: first, count, published_at: at, data: Buffer.allocUnsafeSlow(bytes) };
}

describe('embedded broker recent rows', () => {
  it('finds the row holding a sequence and the rows after it, within the kept suffix only', () => {
    const recent = new RecentRows(1 << 20);
    recent.add(1, [row(1, 10), row(11, 5)]);
    recent.add(1, [row(16, 1)]);
    expect(recent.containing(1, 0)).toBeUndefined();
    expect(recent.containing(1, 1)?.first_seq).toBe(1);
    expect(recent.containing(1, 15)?.first_seq).toBe(11);
    expect(recent.containing(1, 16)?.first_seq).toBe(16);
    expect(recent.containing(1, 17)).toBeUndefined();
    expect(recent.containing(2, 1)).toBeUndefined();
    const first = recent.containing(1, 3)!;
    const second = recent.following(1, first)!;
    expect(second.first_seq).toBe(11);
    expect(recent.following(1, second)?.first_seq).toBe(16);
    expect(recent.following(1, recent.containing(1, 16)!)).toBeUndefined();
  });

  it('answers nothing for a sequence in a gap between rows (a failed commit left it empty)', () => {
    const recent = new RecentRows(1 << 20);
    recent.add(1, [row(1, 10), row(21, 5)]);
    expect(recent.containing(1, 15)).toBeUndefined();
    expect(recent.containing(1, 21)?.first_seq).toBe(21);
  });

  it('stays within its byte budget by dropping the oldest rows over all topics first', () => {
    const recent = new RecentRows(3000);
    recent.add(1, [row(1, 1, 100)]);
    recent.add(2, [row(1, 1, 200)]);
    recent.add(1, [row(2, 1, 300)]);
    expect(recent.heldBytes).toBe(3000);
    recent.add(2, [row(2, 1, 400)]);
    expect(recent.heldBytes).toBe(3000);
    expect(recent.containing(1, 1)).toBeUndefined(); // the oldest (published at 100) went
    expect(recent.containing(2, 1)?.published_at).toBe(200);
    recent.add(1, [row(3, 1, 500)]);
    expect(recent.containing(2, 1)).toBeUndefined();
    expect([recent.containing(1, 2), recent.containing(1, 3), recent.containing(2, 2)].map((r) => r?.published_at)).toEqual([300, 500, 400]);
  });

  it('counts the whole buffer a row is a view of', () => {
    const recent = new RecentRows(1 << 20);
    const big = Buffer.allocUnsafeSlow(8192);
    recent.add(1, [{ first_seq: 1, count: 1, published_at: 0, data: big.subarray(0, 10) }]);
    expect(recent.heldBytes).toBe(8192);
  });

  it('keeps nothing with a budget of 0', () => {
    const recent = new RecentRows(0);
    recent.add(1, [row(1, 10)]);
    expect(recent.containing(1, 1)).toBeUndefined();
    expect(recent.heldBytes).toBe(0);
  });

  it('forgets the rows wholly below a sequence (retention deleted them), not a row it falls inside', () => {
    const recent = new RecentRows(1 << 20);
    recent.add(1, [row(1, 10), row(11, 10), row(21, 10)]);
    recent.forgetBelow(1, 15);
    expect(recent.containing(1, 5)).toBeUndefined();
    expect(recent.containing(1, 11)?.first_seq).toBe(11);
    expect(recent.heldBytes).toBe(2000);
    recent.forgetBelow(1, 31);
    expect(recent.containing(1, 25)).toBeUndefined();
    expect(recent.heldBytes).toBe(0);
    recent.add(1, [row(31, 1)]);
    expect(recent.containing(1, 31)?.first_seq).toBe(31);
  });

  it('always holds a suffix of each topic: whatever sequence it finds, it finds every later row too', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ topic: fc.integer({ min: 1, max: 3 }), count: fc.integer({ min: 1, max: 5 }), bytes: fc.integer({ min: 1, max: 900 }) }), { maxLength: 80 }),
        fc.array(fc.record({ topic: fc.integer({ min: 1, max: 3 }), below: fc.integer({ min: 0, max: 200 }) }), { maxLength: 5 }),
        (adds, forgets) => {
          const recent = new RecentRows(5000);
          const next = new Map<number, number>();
          const all = new Map<number, RecentRow[]>();
          adds.forEach((a, i) => {
            const first = next.get(a.topic) ?? 1;
            const r = row(first, a.count, i, a.bytes);
            next.set(a.topic, first + a.count);
            all.set(a.topic, [...(all.get(a.topic) ?? []), r]);
            recent.add(a.topic, [r]);
            const f = forgets[i % 7];
            if (f !== undefined && i % 7 === 0) recent.forgetBelow(f.topic, f.below);
          });
          expect(recent.heldBytes).toBeLessThanOrEqual(5000);
          for (const [topic, rows] of all) {
            const kept = rows.filter((r) => recent.containing(topic, r.first_seq) === r);
            const firstKept = rows.indexOf(kept[0]!);
            if (kept.length > 0) expect(kept).toEqual(rows.slice(firstKept));
            for (let i = 0; i + 1 < kept.length; i++) expect(recent.following(topic, kept[i]!)).toBe(kept[i + 1]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
