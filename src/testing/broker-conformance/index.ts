import type { Broker, BrokerFeatures } from '../../async/broker.js';
import { brokerCases, type ConformanceCase } from './cases.js';

/**
 * Register the broker conformance suite with the caller's test framework (vitest, jest, node:test), so that
 * this library code needs none of them:
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * runBrokerConformance({ describe, it, name: 'memory', features: memoryBroker().features, create: () => memoryBroker() });
 * ```
 *
 * Every case gets a fresh broker from `create` and closes it afterwards. Cases whose required feature the
 * manifest lacks are registered with `it.skip` and the reason.
 */
export interface TestApi {
  describe: (name: string, body: () => void) => void;
  it: ((name: string, body: () => Promise<void>, timeout?: number) => void) & {
    skip(name: string, body: () => Promise<void>): void;
  };
}

export interface BrokerConformanceOptions extends TestApi {
  readonly name: string;
  readonly features: BrokerFeatures;
  readonly create: () => Promise<Broker> | Broker;
  /** Per-case timeout, ms. Default 30 000. */
  readonly timeoutMs?: number;
  /** Cases to leave out, by name, with the reason (shown as skipped). */
  readonly exclude?: Readonly<Record<string, string>>;
}

export function runBrokerConformance(options: BrokerConformanceOptions): void {
  const { describe, it } = options;
  describe(`broker conformance: ${options.name}`, () => {
    for (const c of brokerCases) {
      const skipReason = reasonToSkip(c, options);
      if (skipReason !== undefined) {
        it.skip(`${c.name} (skipped: ${skipReason})`, async () => undefined);
        continue;
      }
      it(
        c.name,
        async () => {
          const broker = await options.create();
          try {
            await c.run(broker);
          } finally {
            await broker.close();
          }
        },
        options.timeoutMs ?? 30_000,
      );
    }
  });
}

function reasonToSkip(c: ConformanceCase, options: BrokerConformanceOptions): string | undefined {
  const excluded = options.exclude?.[c.name];
  if (excluded !== undefined) return excluded;
  if (c.requires !== undefined && !options.features[c.requires]) return `${options.name} lacks ${c.requires}`;
  return undefined;
}

export { brokerCases, type ConformanceCase } from './cases.js';
export { waitFor } from './support.js';
