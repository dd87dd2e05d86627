/**
 * Backoff delays for retries: capped exponential growth with a choice of jitter.
 *
 * - `none`:         min(cap, base · 2^(n-1))                     for the n-th retry (n = 1, 2, …)
 * - `full`:         uniform in [0, min(cap, base · 2^(n-1))]      (AWS "full jitter")
 * - `decorrelated`: uniform in [base, min(cap, previous · 3)]     (AWS "decorrelated jitter"; previous starts at base)
 *
 * Why jitter: when a dependency fails, every caller fails at once; without jitter their retries arrive in
 * synchronised waves that knock it down again. Full jitter spreads them widest; decorrelated keeps a floor.
 * `random` is injectable so tests can check the bounds deterministically.
 */
export type Jitter = 'full' | 'decorrelated' | 'none';

export interface BackoffOptions {
  /** Base delay in ms. */
  readonly baseMs: number;
  /** Upper bound of any single delay, in ms. */
  readonly maxMs: number;
  readonly jitter: Jitter;
  /** Uniform random in [0, 1). */
  readonly random: () => number;
}

/**
 * The delay before the `retry`-th retry (1 for the first). `previousMs` is the delay used before the
 * previous retry (ignored except by decorrelated jitter; pass `baseMs` for the first retry).
 */
export function backoffDelay(retry: number, previousMs: number, options: BackoffOptions): number {
  const { baseMs, maxMs } = options;
  switch (options.jitter) {
    case 'none':
      return exponential(retry, baseMs, maxMs);
    case 'full':
      return options.random() * exponential(retry, baseMs, maxMs);
    case 'decorrelated': {
      const lower = Math.min(baseMs, maxMs);
      const upper = Math.max(lower, Math.min(maxMs, previousMs * 3));
      return lower + options.random() * (upper - lower);
    }
  }
}

/** min(cap, base · 2^(retry-1)); grows to Infinity rather than overflowing, so the cap always wins. */
function exponential(retry: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
}
