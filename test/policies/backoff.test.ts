import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/policies/index.js';
import { seededRandom } from './helpers.js';

describe('backoffDelay', () => {
  it('none: doubles from base and stops at the cap', () => {
    const o = { baseMs: 100, maxMs: 1_000, jitter: 'none' as const, random: () => 0.5 };
    expect([1, 2, 3, 4, 5, 6, 60, 2000].map((n) => backoffDelay(n, 0, o))).toEqual([
      100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000,
    ]);
  });

  it('full: random × min(cap, base·2^(n-1)), exactly, for the injected random', () => {
    const o = { baseMs: 100, maxMs: 1_000, jitter: 'full' as const, random: () => 0.25 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 0, o))).toEqual([25, 50, 100, 200, 250]);
  });

  it('full: every draw lies in [0, min(cap, base·2^(n-1))] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 80 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (baseMs, capExtra, retry, r) => {
          const maxMs = baseMs + capExtra;
          const delay = backoffDelay(retry, baseMs, { baseMs, maxMs, jitter: 'full', random: () => r });
          return delay >= 0 && delay <= Math.min(maxMs, baseMs * 2 ** (retry - 1));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('decorrelated: every delay lies in [base, min(cap, previous·3)] over long seeded sequences', () => {
    const violations: string[] = [];
    for (let seed = 1; seed <= 50; seed++) {
      const random = seededRandom(seed);
      const o = { baseMs: 50, maxMs: 5_000, jitter: 'decorrelated' as const, random };
      let previous = o.baseMs;
      let reachedCapRegion = false;
      for (let retry = 1; retry <= 200; retry++) {
        const delay = backoffDelay(retry, previous, o);
        if (delay < o.baseMs || delay > Math.min(o.maxMs, previous * 3)) {
          violations.push(`seed ${seed} retry ${retry}: ${delay} after ${previous}`);
        }
        if (delay > o.maxMs / 2) reachedCapRegion = true;
        previous = delay;
      }
      if (!reachedCapRegion) violations.push(`seed ${seed}: never grew past half the cap`);
    }
    expect(violations).toEqual([]);
  });

  it('full jitter draws spread over the whole range (not stuck at one end)', () => {
    const random = seededRandom(7);
    const o = { baseMs: 100, maxMs: 100, jitter: 'full' as const, random };
    const draws = Array.from({ length: 10_000 }, () => backoffDelay(3, 0, o));
    expect(Math.min(...draws)).toBeLessThan(1);
    expect(Math.max(...draws)).toBeGreaterThan(99);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(48);
    expect(mean).toBeLessThan(52);
  });
});
