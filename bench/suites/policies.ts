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
 *
 * Courier is measured as it ships: src/core and src/policies transpiled by the project's TypeScript
 * settings (what `tsc` puts in dist/), like the anchors' published JavaScript. Loaded through tsx instead,
 * every class gets a keepNames static block (`__name(this, …)`), and on Node 20 that alone makes each
 * construction of a derived class (such as the timeout's per-call cancel token) several times slower; the
 * first row's note gives that dev-loader figure too.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConsecutiveBreaker, TimeoutStrategy, circuitBreaker as cbPolicy, handleAll, retry as cRetry, timeout as cTimeout, wrap } from 'cockatiel';
import CircuitBreaker from 'opossum';
import ts from 'typescript';
import * as sourceContext from '../../src/core/context.js';
import * as sourceMiddleware from '../../src/core/middleware.js';
import * as sourcePolicies from '../../src/policies/index.js';
import { median } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, round } from '../lib/suite.js';

type Courier = typeof sourcePolicies & typeof sourceMiddleware & typeof sourceContext;

/** src/core and src/policies compiled with tsconfig.build.json's options into a temp dir, then imported. */
async function compiledCourier(): Promise<{ courier: Courier; cleanup: () => Promise<void> }> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('cannot read tsconfig.build.json');
  const compilerOptions = { ...parsed.options, module: ts.ModuleKind.ES2022, declaration: false, sourceMap: false };
  const out = await mkdtemp(join(tmpdir(), 'courier-bench-'));
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  for (const dir of ['core', 'policies']) {
    await mkdir(join(out, dir));
    for (const file of (await readdir(join(root, 'src', dir))).filter((f) => f.endsWith('.ts'))) {
      const source = await readFile(join(root, 'src', dir, file), 'utf8');
      const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: file });
      await writeFile(join(out, dir, file.replace(/\.ts$/, '.js')), outputText);
    }
  }
  const load = (path: string) => import(pathToFileURL(join(out, path)).href) as Promise<object>;
  const courier = Object.assign(
    {},
    await load('policies/index.js'),
    await load('core/middleware.js'),
    await load('core/context.js'),
  ) as Courier;
  return { courier, cleanup: () => rm(out, { recursive: true, force: true }) };
}

interface Contender {
  readonly name: string;
  readonly call: () => Promise<unknown>;
}

async function noop(_input?: unknown, _ctx?: unknown): Promise<undefined> {
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
    const { courier, cleanup } = await compiledCourier();
    const stackOf = (c: Courier) =>
      c.compose<unknown, undefined>([
        c.timeout(1_000),
        c.retry({ attempts: 3 }),
        c.breaker({ mode: { kind: 'consecutive', threshold: 5 } }),
        c.bulkhead({ maxConcurrent: 100, maxQueue: 100 }),
      ])(noop);
    const shipped = stackOf(courier);
    const shippedCtx = courier.Context.background;
    const viaTsx = stackOf({ ...sourcePolicies, ...sourceMiddleware, ...sourceContext });
    const tsxCtx = sourceContext.Context.background;
    const cockatiel = wrap(
      cRetry(handleAll, { maxAttempts: 2 }),
      cbPolicy(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
      cTimeout(1_000, TimeoutStrategy.Aggressive),
    );
    const opossum = new CircuitBreaker(noop);
    const contenders: Contender[] = [
      { name: 'bare', call: () => noop() },
      { name: 'courier', call: () => shipped(undefined, shippedCtx) },
      { name: 'cockatiel', call: () => cockatiel.execute(() => noop()) },
      { name: 'opossum', call: () => opossum.fire() },
      { name: 'courier-tsx', call: () => viaTsx(undefined, tsxCtx) },
    ];
    try {
      const samples = await measure(contenders, quick ? 21 : 41, quick ? 15 : 40);
      const total = (name: string) => median(samples.get(name)!) / 1_000; // µs
      const courierCost = overhead(samples, 'courier') / 1_000;
      const againstCockatiel = overhead(samples, 'cockatiel') / 1_000;
      const againstOpossum = overhead(samples, 'opossum') / 1_000;
      const bare = total('bare');
      const stack = 'compose([timeout(1000), retry(3), breaker(consecutive 5), bulkhead(100,100)])';
      return [
        {
          name: 'policy stack overhead per call',
          value: round(courierCost, 3),
          unit: 'µs',
          anchor: 'bare call',
          anchorValue: round(bare, 3),
          ratio: null,
          note:
            `target ≤ 0.5 µs over bare; = ${round(courierCost / bare, 1)} bare calls; ${stack}; ` +
            `from TS sources via tsx: ${round(overhead(samples, 'courier-tsx') / 1_000, 3)} µs`,
        },
        {
          name: 'vs cockatiel wrap(retry, breaker, timeout)',
          value: round(courierCost, 3),
          unit: 'µs',
          anchor: 'cockatiel 3',
          anchorValue: round(againstCockatiel, 3),
          ratio: costRatio(courierCost, againstCockatiel),
          note: `target ≥ 40×; overhead over bare; whole-call ratio ${round(total('cockatiel') / total('courier'), 1)}×`,
        },
        {
          name: 'vs opossum breaker (defaults)',
          value: round(courierCost, 3),
          unit: 'µs',
          anchor: 'opossum 9',
          anchorValue: round(againstOpossum, 3),
          ratio: costRatio(courierCost, againstOpossum),
          note: `target ≥ 2×; overhead over bare; whole-call ratio ${round(total('opossum') / total('courier'), 2)}×`,
        },
      ];
    } finally {
      opossum.shutdown();
      await cleanup();
    }
  },
};
