/**
 * Courier as it ships, for benchmarks: src/, bench/ and the test fixtures the suites load are transpiled to
 * plain ES2022 modules in a cache directory, the way `tsc` emits dist/ (types erased, nothing added).
 *
 * Why not run the sources through tsx: its transform gives every class a keepNames static block and wraps
 * functions in `__name(…)`, which makes derived-class construction several times slower on Node 20 and
 * showed up as ~3% of a broker consumer's own CPU. Users run compiled JavaScript; so do the anchors' client
 * libraries. esbuild (installed for tsx) does the whole tree in well under a second; the TypeScript API
 * took ~10 s.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Shipped {
  /** The transpiled project: `<root>/src/…`, `<root>/bench/…`, `<root>/test/schema/…`, as `.js`. */
  readonly root: string;
  /** Import a module of the transpiled tree by its path under the root, e.g. `src/sync/http/client.js`. */
  load(path: string): Promise<any>;
  readonly cleanup: () => Promise<void>;
}

const project = fileURLToPath(new URL('../../', import.meta.url));

export async function buildShipped(): Promise<Shipped> {
  const { transform } = await import('esbuild');
  // Inside node_modules so that the copies resolve fastify, undici, zod, better-sqlite3… from the project.
  const root = join(project, 'node_modules', '.cache', `courier-bench-${process.pid}`);
  const sources = [
    ...(await walk(join(project, 'src'))),
    ...(await walk(join(project, 'bench'))),
    ...(await walk(join(project, 'test', 'schema'))).filter((f) => !f.endsWith('.test.ts')),
  ];
  await Promise.all(
    sources.map(async (file) => {
      const out = join(root, relative(project, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(out), { recursive: true });
      const { code } = await transform(await readFile(file, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'es2022',
        tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
      });
      await writeFile(out, code);
    }),
  );
  await writeFile(join(root, 'package.json'), '{"type":"module"}');
  return {
    root,
    load: (path) => import(pathToFileURL(join(root, path)).href),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}
