/**
 * Child processes of the crash test: spawn a TypeScript fixture under tsx, follow its stdout line by line,
 * wait for a line, kill it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the child wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with the first line (from now on) matching `pattern`; rejects if the child exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  onLine(listener: (line: string) => void): void;
  killHard(): Promise<void>;
}

export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

export function spawnFixture(name: string, args: readonly string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const listeners = new Set<(line: string) => void>();
  createInterface({ input: proc.stdout }).on('line', (line) => {
    for (const l of listeners) l(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    exited,
    stderr: () => stderr,
    onLine: (listener) => void listeners.add(listener),
    waitFor(pattern, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const done = (fn: () => void): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          fn();
        };
        const listener = (line: string): void => {
          if (pattern.test(line)) done(() => resolve(line));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; stderr: ${stderr}`))), timeoutMs);
        listeners.add(listener);
        void exited.then(({ code, signal }) => done(() => reject(new Error(`${name} exited (${code ?? signal}) before ${pattern}; stderr: ${stderr}`))));
      });
    },
    async killHard() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}
