/**
 * The benchmark contract. A suite measures Courier and the anchor it is compared with in the same run and
 * returns one result per comparison; the runner prints a table and, as its last line, `BENCH {json}`.
 * `ratio` is always oriented so that higher is better for Courier: for rates it is courier / anchor, for
 * costs (µs per call, latency) it is anchor / courier.
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly anchor: string | null;
  readonly anchorValue: number | null;
  readonly ratio: number | null;
  /** Free text shown in the table (targets, caveats). */
  readonly note?: string;
}

export interface SuiteOptions {
  /** Finish in under 60 s: fewer iterations, same comparisons. */
  readonly quick: boolean;
  /** Extra arguments after the suite name. */
  readonly args: readonly string[];
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(options: SuiteOptions): Promise<BenchResult[]>;
}

/** Higher-is-better ratio for two rates (ops/s, msg/s). */
export function rateRatio(courier: number, anchor: number): number {
  return round(courier / anchor, 3);
}

/** Higher-is-better ratio for two costs (µs/op, ms latency). */
export function costRatio(courier: number, anchor: number): number {
  return round(anchor / courier, 3);
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
