/**
 * What validating a ~1 KB order costs: Courier's compiled validator against ajv 8 compiled from the same JSON
 * Schema, zod 4's `safeParse`, and zod's own ahead-of-time compiler (`z.compile`), interleaved in rounds in
 * one process. Each contender validates a pool of distinct order objects parsed from JSON (as a transport
 * would hand them over), so no contender benefits from one hot object, and its verdicts are summed into a sink
 * that is checked at the end, so the optimiser cannot drop the work. Figures are CPU time per validation (µs,
 * median of rounds); ratios are anchor / Courier (higher is better). A last row prices the rare path: an
 * invalid order, rejected with a `ValidationError` naming the failing field, against zod's failing `safeParse`.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { ValidationError } from '../../src/core/errors.js';
import { compile } from '../../src/schema/compile.js';
import { exactJsonSchema } from '../../src/schema/json-schema.js';
import { Order, sampleOrder } from '../../test/schema/order-schema.js';
import { median } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, round } from '../lib/suite.js';

type Contender = (value: unknown) => boolean;

let sink = 0;

function cpuMicrosPer(fn: Contender, pool: readonly unknown[], n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) if (fn(pool[i % pool.length])) sink++;
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

/** Runs every contender once per round, in turn, and returns each one's median µs per call. */
function interleaved(contenders: Record<string, { fn: Contender; n: number }>, pool: readonly unknown[], rounds: number): Record<string, number> {
  const samples: Record<string, number[]> = {};
  for (const { fn, n } of Object.values(contenders)) cpuMicrosPer(fn, pool, Math.ceil(n / 5)); // warm up
  for (let r = 0; r < rounds; r++)
    for (const [name, { fn, n }] of Object.entries(contenders)) (samples[name] ??= []).push(cpuMicrosPer(fn, pool, n));
  return Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, median(s)]));
}

export const suite: Suite = {
  name: 'validation',
  description: 'validating a ~1 KB order: Courier compiled vs ajv, zod safeParse and z.compile',
  async run({ quick }) {
    const orders = Array.from({ length: 64 }, (_, i) => {
      const order = sampleOrder();
      order.totalCents += i;
      return JSON.stringify(order);
    });
    const pool = orders.map((json) => JSON.parse(json) as unknown);
    const bytes = Buffer.byteLength(orders[0]!);
    console.log(`order JSON size: ${bytes} B`);

    const courier = compile(Order);
    if (!courier.compiled) throw new Error('the order schema should compile');
    const ajvCheck = new Ajv2020({ strict: false, validateFormats: false }).compile(exactJsonSchema(Order)!);
    const zodCompiled = z.compile(Order);
    const valid: Record<string, Contender> = {
      'courier validate': (v) => courier.validate(v) === v,
      'courier is': (v) => courier.is(v),
      ajv: (v) => ajvCheck(v),
      'zod safeParse': (v) => Order.safeParse(v).success,
      'zod z.compile': (v) => zodCompiled.safeParse(v).success,
    };
    for (const [name, fn] of Object.entries(valid)) if (!pool.every(fn)) throw new Error(`${name}: sample orders must be valid`);

    const n = quick ? 60_000 : 400_000;
    const rounds = quick ? 7 : 15;
    const slow = (name: string) => name.startsWith('zod');
    const us = interleaved(
      Object.fromEntries(Object.entries(valid).map(([name, fn]) => [name, { fn, n: slow(name) ? n / 5 : n }])),
      pool,
      rounds,
    );

    // The rare path: one bad field deep in the order.
    const invalidPool = orders.map((json) => {
      const order = JSON.parse(json) as { items: Array<{ qty: unknown }> };
      order.items[2]!.qty = 'three';
      return order;
    });
    const rejected: Record<string, Contender> = {
      'courier rejects': (v) => {
        try {
          courier.validate(v, 'input of orders.place');
          return false;
        } catch (error) {
          return error instanceof ValidationError && error.path.length === 3;
        }
      },
      'zod rejects': (v) => Order.safeParse(v).error?.issues[0]?.path.length === 3,
    };
    for (const [name, fn] of Object.entries(rejected)) if (!invalidPool.every(fn)) throw new Error(`${name}: must reject with the path`);
    const usInvalid = interleaved(
      Object.fromEntries(Object.entries(rejected).map(([name, fn]) => [name, { fn, n: n / 10 }])),
      invalidPool,
      rounds,
    );
    if (sink === 0) throw new Error('unreachable: keeps the sink alive');

    const c = us['courier validate']!;
    const row = (name: string, anchor: string, anchorUs: number, note: string, value = c): BenchResult => ({
      name,
      value: round(value),
      unit: 'µs',
      anchor,
      anchorValue: round(anchorUs),
      ratio: costRatio(value, anchorUs),
      note,
    });
    return [
      row(`valid order (${bytes} B) vs zod`, 'zod 4 safeParse', us['zod safeParse']!, 'target: ≤ 1 µs per validation, ≥ 5× zod'),
      row(`valid order (${bytes} B) vs ajv`, 'ajv 8 compiled', us['ajv']!, 'same JSON Schema, formats via pattern'),
      row(`valid order (${bytes} B) vs z.compile`, 'zod 4 z.compile', us['zod z.compile']!, "zod's own JIT, informative"),
      row(`valid order, .is() (${bytes} B)`, 'ajv 8 compiled', us['ajv']!, 'boolean only, no throw path', us['courier is']),
      row('invalid order → error with path', 'zod 4 safeParse', usInvalid['zod rejects']!, 'rare path: ValidationError incl. stack', usInvalid['courier rejects']),
    ];
  },
};
