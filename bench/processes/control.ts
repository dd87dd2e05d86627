/**
 * The suite's side of a benchmark child process: spawn it, send commands (`wire.ts`), await the reply to
 * each. With a shipped tree (`bench/lib/shipped.ts`) the child runs that plain JavaScript, as users run
 * Courier; without one it runs the sources through tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Shipped } from '../lib/shipped.js';
import type { Command } from './wire.js';

export class ChildControl {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    proc.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let message: { id?: number; ready?: boolean; result?: unknown; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return; // a library's stray console output
      }
      if (message.ready) {
        markReady();
        return;
      }
      const waiter = message.id === undefined ? undefined : this.waiting.get(message.id);
      if (waiter === undefined) return;
      this.waiting.delete(message.id!);
      if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code) => {
        for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code}): ${this.stderr}`));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  /** Start `bench/processes/<script>` (a `.ts` name) and wait until it says it is ready. */
  static async start(name: string, script: string, args: readonly string[] = [], shipped?: Shipped): Promise<ChildControl> {
    const path =
      shipped === undefined
        ? fileURLToPath(new URL(`./${script}`, import.meta.url))
        : join(shipped.root, 'bench', 'processes', script.replace(/\.ts$/, '.js'));
    // COURIER_BENCH_CHILD_NODE_ARGS adds Node flags to every child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
    // to profile the producer and consumer (Node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = (process.env.COURIER_BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const loader = shipped === undefined ? ['--import', 'tsx'] : [];
    const proc = spawn(process.execPath, [...nodeArgs, ...loader, path, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const child = new ChildControl(name, proc);
    await Promise.race([
      child.ready,
      child.exited.then((code) => {
        throw new Error(`${name} exited (${code}) before it was ready: ${child.stderr}`);
      }),
    ]);
    return child;
  }

  send<T>(command: Command): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin!.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.send({ op: 'exit' }).catch(() => undefined);
    await this.exited;
    clearTimeout(timer);
  }
}
