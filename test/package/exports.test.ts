/**
 * The package's `exports` map is the public API: every subpath must point at a module that exists and exports
 * something, and every public entry point in `src/` (an `index.ts` that is not re-exported by a parent entry)
 * must be reachable through a subpath. A missing entry is an API a user cannot import.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** `./dist/sync/http/index.js` → `src/sync/http/index.ts` (what `tsc -p tsconfig.build.json` compiles it from). */
function sourceOf(distPath: string): string {
  return distPath.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
}

const entries = Object.entries(pkg.exports).filter(([subpath]) => subpath !== './package.json');

function indexFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return indexFiles(path);
    return name === 'index.ts' ? [relative(root, path)] : [];
  });
}

/** Entry points re-exported whole by another entry, so they need no subpath of their own. */
const reExported = new Set([
  'src/node/index.ts', // by `courier`
  'src/testing/broker-conformance/index.ts', // by `courier/testing`
  'src/testing/transport-conformance/index.ts', // by `courier/testing`
]);

describe('package exports', () => {
  it.each(entries)('%s resolves to a module with exports', async (_subpath, target) => {
    expect(typeof target).toBe('object');
    const { types, default: js } = target as { types: string; default: string };
    expect(types).toBe(js.replace(/\.js$/, '.d.ts'));
    const source = sourceOf(js);
    expect(existsSync(join(root, source)), `${source} exists`).toBe(true);
    const mod = (await import(join(root, source))) as Record<string, unknown>;
    expect(Object.keys(mod).length).toBeGreaterThan(0);
  });

  it('every public entry point in src/ has a subpath', () => {
    const exported = new Set(entries.map(([, target]) => sourceOf((target as { default: string }).default)));
    const unreachable = indexFiles(join(root, 'src')).filter(
      (file) => !exported.has(file) && !reExported.has(file),
    );
    expect(unreachable).toEqual([]);
  });
});
