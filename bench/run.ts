/**
 * `npm run bench -- <suite> [--quick] [args…]` runs one suite (or `all`), prints a readable table, and as the
 * last line `BENCH {"suite":…,"results":[…]}`. Suites live in `bench/suites/<name>.ts` and export `suite`.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BenchResult, Suite } from './lib/suite.js';

const suitesDir = fileURLToPath(new URL('./suites/', import.meta.url));

async function loadSuite(name: string): Promise<Suite> {
  const mod = (await import(new URL(`./suites/${name}.ts`, import.meta.url).href)) as { suite: Suite };
  return mod.suite;
}

function table(results: readonly BenchResult[]): string {
  const rows = [
    ['benchmark', 'courier', 'anchor', 'anchor value', 'ratio (↑ better)', 'note'],
    ...results.map((r) => [
      r.name,
      `${fmt(r.value)} ${r.unit}`,
      r.anchor ?? '-',
      r.anchorValue === null ? '-' : `${fmt(r.anchorValue)} ${r.unit}`,
      r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
      r.note ?? '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

function fmt(v: number): string {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const positional = argv.filter((a) => a !== '--quick');
  const available = (await readdir(suitesDir)).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  const [name, ...args] = positional;
  if (name === undefined || (name !== 'all' && !available.includes(name))) {
    console.error(`usage: npm run bench -- <suite|all> [--quick]\nsuites: ${available.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const names = name === 'all' ? available : [name];
  const all: BenchResult[] = [];
  for (const n of names) {
    const suite = await loadSuite(n);
    console.log(`\n# ${suite.name}: ${suite.description}${quick ? ' (quick)' : ''}`);
    const results = await suite.run({ quick, args });
    console.log(table(results));
    all.push(...results);
  }
  const clean = all.map(({ note: _note, ...r }) => r);
  console.log(`BENCH ${JSON.stringify({ suite: name, results: clean })}`);
}

await main();
