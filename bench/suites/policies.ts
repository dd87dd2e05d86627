/**
 * What Courier's resilience policies cost per call, against the libraries people use for the same job.
 *
 * Four contenders run around the same async no-op, interleaved in rounds (the starting contender rotates so
 * that GC debt left by one does not always land on the same neighbour):
 * - bare:      `await noop()`;
 * - courier:   compose([timeout(1000), retry({ attempts: 3 }), breaker(consecutive 5), bulkhead(100, 100)]);
 * - cockatiel: wrap(retry(maxAttempts 2 = 3 attempts), circuitBreaker(consecutive 5), timeout(1000, aggressive));
 * - opossum:   new CircuitBreaker(noop) with its defaults (10 s timeout, rolling stats, percentiles).
 *
 * Each round times a batch of sequential awaited calls with the process's CPU time (user + system), which
 * on these shared machines excludes the time another process holds the core but still includes our GC
 * threads. The cost of a policy stack is its per-call time minus the bare call's in the same round; the
 * reported figure is the median over rounds. Ratios compare those overheads (the policies' own cost),
 * oriented higher-is-better for Courier; the notes also give the ratio of whole-call times.
 */
import { ConsecutiveBreaker, TimeoutStrategy, circuitBreaker as cbPolicy, handleAll, retry as cRetry, timeout as cTimeout, wrap } from 'cockatiel';
import CircuitBreaker from 'opossum';
import { Context } from '../../src/core/context.js';
import { compose } from '../../src/core/middleware.js';
import { breaker, bulkhead, retry, timeout } from '../../src/policies/index.js';
import { median } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, round } from '../lib/suite.js';

interface Contender {
  readonly name: string;
  readonly call: () => Promise<unknown>;
}

async function noop(_input?: unknown, _ctx?: Context): Promise<undefined> {
  return undefined;
}

async function runBatch(call: () => Promise<unknown>, n: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1_000) / n; // ns per call
}

/** Calls per batch so that one batch takes about `targetMs` of CPU. */
async function calibrate(call: () => Promise<unknown>, targetMs: number): Promise<number> {
  let n = 1_000;
  for (;;) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) await call();
    const used = process.cpuUsage(start);
    const ms = (used.user + used.system) / 1_000;
    if (ms >= 20 || n >= 5_000_000) return Math.max(1_000, Math.round((n * targetMs) / Math.max(ms, 0.001)));
    n *= 4;
  }
}

async function measure(
  contenders: readonly Contender[],
  rounds: number,
  targetMs: number,
): Promise<Map<string, number[]>> {
  const batch = new Map<string, number>();
  for (const c of contenders) {
    await runBatch(c.call, 20_000); // warm up: JIT, inline caches
    batch.set(c.name, await calibrate(c.call, targetMs));
  }
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(r + k) % contenders.length]!;
      samples.get(c.name)!.push(await runBatch(c.call, batch.get(c.name)!));
    }
  }
  return samples;
}

/** Median over rounds of (contender − bare) in the same round, in ns. */
function overhead(samples: Map<string, number[]>, name: string): number {
  const bare = samples.get('bare')!;
  return median(samples.get(name)!.map((v, i) => v - bare[i]!));
}

export const suite: Suite = {
  name: 'policies',
  description:
    'cost per call of timeout+retry+breaker+bulkhead around an async no-op, vs a bare call, cockatiel 3 and opossum 9',
  async run({ quick }): Promise<BenchResult[]> {
    const ctx = Context.background;
    const courierStack = compose<unknown, undefined>([
      timeout(1_000),
      retry({ attempts: 3 }),
      breaker({ mode: { kind: 'consecutive', threshold: 5 } }),
      bulkhead({ maxConcurrent: 100, maxQueue: 100 }),
    ])(noop);
    const cockatiel = wrap(
      cRetry(handleAll, { maxAttempts: 2 }),
      cbPolicy(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
      cTimeout(1_000, TimeoutStrategy.Aggressive),
    );
    const opossum = new CircuitBreaker(noop);
    const contenders: Contender[] = [
      { name: 'bare', call: () => noop() },
      { name: 'courier', call: () => courierStack(undefined, ctx) },
      { name: 'cockatiel', call: () => cockatiel.execute(() => noop()) },
      { name: 'opossum', call: () => opossum.fire() },
    ];
    try {
      const samples = await measure(contenders, quick ? 21 : 41, quick ? 15 : 40);
      const total = (name: string) => median(samples.get(name)!) / 1_000; // µs
      const courier = overhead(samples, 'courier') / 1_000;
      const againstCockatiel = overhead(samples, 'cockatiel') / 1_000;
      const againstOpossum = overhead(samples, 'opossum') / 1_000;
      const stack = 'compose([timeout(1000), retry(3), breaker(consecutive 5), bulkhead(100,100)])';
      return [
        {
          name: 'policy stack overhead per call',
          value: round(courier, 3),
          unit: 'µs',
          anchor: 'bare call',
          anchorValue: round(total('bare'), 3),
          ratio: null,
          note: `target ≤ 0.5 µs over bare; ${stack}; whole call ${round(total('courier'), 3)} µs`,
        },
        {
          name: 'vs cockatiel wrap(retry, breaker, timeout)',
          value: round(courier, 3),
          unit: 'µs',
          anchor: 'cockatiel 3',
          anchorValue: round(againstCockatiel, 3),
          ratio: costRatio(courier, againstCockatiel),
          note: `target ≥ 40×; overhead over bare; whole-call ratio ${round(total('cockatiel') / total('courier'), 1)}×`,
        },
        {
          name: 'vs opossum breaker (defaults)',
          value: round(courier, 3),
          unit: 'µs',
          anchor: 'opossum 9',
          anchorValue: round(againstOpossum, 3),
          ratio: costRatio(courier, againstOpossum),
          note: `target ≥ 2×; overhead over bare; whole-call ratio ${round(total('opossum') / total('courier'), 2)}×`,
        },
      ];
    } finally {
      opossum.shutdown();
    }
  },
};
