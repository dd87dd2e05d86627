/**
 * What validating a ~1 KB order costs: Courier's compiled validator against ajv on the same JSON Schema and
 * against zod's own `safeParse`, interleaved in rounds in the same process. Each contender validates a pool of
 * distinct order objects (so no contender benefits from one hot object) and its results are summed into a
 * sink, so the optimiser cannot drop the work. Figures are CPU time per validation (µs); ratios are
 * anchor / Courier (higher is better).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { compile } from '../../src/schema/compile.js';
import { toJsonSchema } from '../../src/schema/json-schema.js';
import { Order, sampleOrder } from '../../test/schema/order-schema.js';
import { median } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, round } from '../lib/suite.js';

let sink = 0;

function cpuMicrosPer(fn: (value: unknown) => boolean, pool: readonly unknown[], n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) if (fn(pool[i % pool.length])) sink++;
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

export const suite: Suite = {
  name: 'validation',
  description: 'validating a ~1 KB order: Courier compiled vs ajv vs zod safeParse',
  async run({ quick }) {
    const pool = Array.from({ length: 64 }, (_, i) => {
      const order = JSON.parse(JSON.stringify(sampleOrder()));
      order.totalCents += i;
      return order;
    });
    const bytes = Buffer.byteLength(JSON.stringify(pool[0]));
    const courier = compile(Order);
    if (!courier.compiled) throw new Error('the order schema should compile');
    const ajvCheck = new Ajv2020({ strict: false, validateFormats: false }).compile(
      Object.fromEntries(Object.entries(toJsonSchema(Order)!).filter(([k]) => k !== '$schema')),
    );
    const contenders: Record<string, (v: unknown) => boolean> = {
      courier: (v) => courier.validate(v) === v,
      ajv: (v) => ajvCheck(v),
      zod: (v) => Order.safeParse(v).success,
    };
    for (const fn of Object.values(contenders))
      if (!pool.every(fn)) throw new Error('sample orders must be valid');

    const n = quick ? 100_000 : 500_000;
    const rounds = quick ? 7 : 15;
    const samples: Record<string, number[]> = { courier: [], ajv: [], zod: [] };
    for (const fn of Object.values(contenders)) cpuMicrosPer(fn, pool, n / 10); // warm up
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of Object.entries(contenders))
        samples[name]!.push(cpuMicrosPer(fn, pool, name === 'zod' ? n / 5 : n));
    }
    const us = Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, median(s)])) as Record<
      string,
      number
    >;
    if (sink === 0) throw new Error('unreachable: keeps the sink alive');
    const results: BenchResult[] = [
      {
        name: `order validation (${bytes} B JSON)`,
        value: round(us['courier']!),
        unit: 'µs',
        anchor: 'zod 4 safeParse',
        anchorValue: round(us['zod']!),
        ratio: costRatio(us['courier']!, us['zod']!),
        note: 'target: ≤ 1 µs per validation, ≥ 5× zod',
      },
      {
        name: `order validation vs ajv (${bytes} B JSON)`,
        value: round(us['courier']!),
        unit: 'µs',
        anchor: 'ajv 8 compiled',
        anchorValue: round(us['ajv']!),
        ratio: costRatio(us['courier']!, us['ajv']!),
        note: 'Courier generates its own check; ajv explains failures',
      },
    ];
    return results;
  },
};
