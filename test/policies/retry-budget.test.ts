import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { RetryBudgetExhaustedError } from '../../src/core/errors.js';
import { retry, retryBudget } from '../../src/policies/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

/** Run `requests` calls through retry(attempts 3, no backoff) against a dependency that always fails. */
async function underTotalOutage(
  requests: number,
  budgetOptions: { ratio?: number; minPerSecond?: number; windowMs?: number },
  msBetweenRequests = 0,
) {
  const clock = new FakeClock();
  const budget = retryBudget({ ...budgetOptions, clock });
  let calls = 0;
  const handler = async () => {
    calls++;
    throw new Error('down');
  };
  const policy = retry({ attempts: 3, baseMs: 0, jitter: 'none', budget, clock })(handler);
  let exhausted = 0;
  for (let i = 0; i < requests; i++) {
    await policy(i, Context.background).catch((e: unknown) => {
      if (e instanceof RetryBudgetExhaustedError) exhausted++;
    });
    if (msBetweenRequests > 0) await clock.advance(msBetweenRequests);
  }
  return { extra: calls - requests, exhausted, budget };
}

describe('retryBudget', () => {
  it('keeps extra attempts at exactly 10% of 10,000 requests under 100% failure (no floor)', async () => {
    const { extra, exhausted, budget } = await underTotalOutage(10_000, { ratio: 0.1, minPerSecond: 0 });
    expect(extra).toBeLessThanOrEqual(1_000);
    expect(extra).toBeGreaterThanOrEqual(999); // the budget is spent, not just refused
    expect(exhausted).toBeGreaterThan(8_900);
    expect(budget.stats.retries).toBe(extra);
    expect(budget.stats.requests).toBe(10_000);
  });

  it('adds at most the floor (minPerSecond · window) on top of the ratio', async () => {
    const { extra } = await underTotalOutage(10_000, { ratio: 0.1, minPerSecond: 10, windowMs: 10_000 });
    expect(extra).toBeLessThanOrEqual(1_000 + 100);
    expect(extra).toBeGreaterThanOrEqual(1_099);
  });

  it('stays within ratio + floor per window when the outage spans many windows', async () => {
    // 10,000 requests, one per ms, over a 1 s window: ten windows.
    const { extra } = await underTotalOutage(10_000, { ratio: 0.1, minPerSecond: 5, windowMs: 1_000 }, 1);
    expect(extra).toBeLessThanOrEqual(1_000 + 10 * 5);
    expect(extra).toBeGreaterThan(900);
  });

  it('counts in whole milli-tokens: ten deposits of 0.1 make exactly one retry', () => {
    const budget = retryBudget({ ratio: 0.1, minPerSecond: 0, clock: new FakeClock() });
    for (let i = 0; i < 9; i++) budget.deposit();
    expect(budget.available).toBe(0);
    budget.deposit();
    expect(budget.available).toBe(1);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('lets deposits expire after the window, leaving the floor', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0.5, minPerSecond: 2, windowMs: 1_000, clock });
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(budget.available).toBe(50 + 2);
    await clock.advance(1_000);
    expect(budget.available).toBe(2);
  });

  it('returns withdrawn tokens to the floor once the withdrawals leave the window', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 3, windowMs: 1_000, clock });
    expect([budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    await clock.advance(500);
    expect(budget.tryWithdraw()).toBe(false);
    await clock.advance(500);
    expect(budget.available).toBe(3);
  });

  it('is shared between retry policies and reports refusals', async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 1, windowMs: 1_000, clock });
    const refusals: number[] = [];
    budget.onExhausted((stats) => refusals.push(stats.refused));
    const failing = async () => {
      throw new Error('down');
    };
    const a = retry({ attempts: 2, baseMs: 0, budget, clock })(failing);
    const b = retry({ attempts: 2, baseMs: 0, budget, clock })(failing);
    await expect(a('x', Context.background)).rejects.toThrow('down'); // spent the single token
    await expect(b('x', Context.background)).rejects.toBeInstanceOf(RetryBudgetExhaustedError);
    expect(refusals).toEqual([1]);
  });
});
