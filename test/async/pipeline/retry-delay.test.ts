import { describe, expect, it } from 'vitest';
import { resolveConsumeOptions } from '../../../src/async/pipeline/options.js';
import { retryDelay } from '../../../src/async/pipeline/retry-delay.js';
import type { Jitter } from '../../../src/policies/backoff.js';
import { RateLimitedError } from '../../../src/core/errors.js';
import { memoryBroker } from '../../../src/async/memory/index.js';

const features = memoryBroker().features;
const optionsFor = (jitter: Jitter, r: number) =>
  resolveConsumeOptions('t', { group: 'g', handler: async () => undefined, backoff: { baseMs: 100, maxMs: 5_000, jitter }, random: () => r }, features);

describe('retryDelay', () => {
  it('grows exponentially from baseMs, capped at maxMs, without jitter', () => {
    const o = optionsFor('none', 0.5);
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((a) => retryDelay(a, new Error(), o))).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  });

  it('keeps full jitter inside [0, the capped exponential delay]', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (const r of [0, 0.25, 0.5, 0.999]) {
        const delay = retryDelay(attempt, new Error(), optionsFor('full', r));
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(Math.min(5_000, 100 * 2 ** (attempt - 1)));
        expect(delay).toBe(Math.ceil(r * Math.min(5_000, 100 * 2 ** (attempt - 1))));
      }
    }
  });

  it('keeps decorrelated jitter inside [baseMs, maxMs]', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (const r of [0, 0.5, 0.999]) {
        const delay = retryDelay(attempt, new Error(), optionsFor('decorrelated', r));
        expect(delay).toBeGreaterThanOrEqual(100);
        expect(delay).toBeLessThanOrEqual(5_000);
      }
    }
  });

  it('waits at least what the error asked for, but never past maxMs', () => {
    const o = optionsFor('none', 0);
    expect(retryDelay(1, new RateLimitedError(700), o)).toBe(700);
    expect(retryDelay(1, new RateLimitedError(50), o)).toBe(100);
    expect(retryDelay(1, new RateLimitedError(60_000), o)).toBe(5_000);
  });
});
