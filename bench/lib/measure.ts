/**
 * Timing helpers for micro-benchmarks. Measurements interleave the contenders in rounds so that machine
 * noise (other processes on these shared 2-core machines) hits them alike, and report the median round.
 */
export interface Contender {
  readonly name: string;
  /** Runs `n` operations and resolves when all finished. */
  readonly run: (n: number) => Promise<void> | void;
}

/** Nanoseconds per operation for each contender: median of `rounds` interleaved rounds of `n` operations. */
export async function nsPerOp(contenders: readonly Contender[], n: number, rounds: number): Promise<Map<string, number>> {
  for (const c of contenders) await c.run(Math.min(n, 10_000)); // warm up: JIT, inline caches
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const start = process.hrtime.bigint();
      await c.run(n);
      const elapsed = Number(process.hrtime.bigint() - start);
      samples.get(c.name)!.push(elapsed / n);
    }
  }
  return new Map([...samples].map(([name, s]) => [name, median(s)]));
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}
