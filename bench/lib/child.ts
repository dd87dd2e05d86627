/**
 * A benchmark child process driven over JSON lines, both sides: `JsonChild.start(script)` spawns
 * `node --import tsx <script>` and `call(op, args)` sends `{id, op, ...args}` on its stdin and resolves with
 * the `result` (or rejects with the `error`) of the line `{id, …}` it answers on stdout. In the child,
 * `serveJsonLines(handlers)` does the other half and announces `{ready: true}`. Unlike
 * `bench/processes/control.ts` (typed for the broker suite's commands), the operations are free-form.
 *
 * `rssBytes()` reads the child's resident set from `/proc/<pid>/status`, so a suite can sample a child's
 * memory from outside without waking its event loop (a busy child would answer late and under-sample).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class JsonChild {
  private nextId = 0;
  private readonly waiting = new Map<number, Waiter>();
  private stderr = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    ready: () => void,
  ) {
    proc.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let message: { id?: number; ready?: boolean; result?: unknown; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return; // stray output of a library
      }
      if (message.ready === true) return ready();
      const waiter = message.id === undefined ? undefined : this.waiting.get(message.id);
      if (waiter === undefined) return;
      this.waiting.delete(message.id!);
      if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code ?? signal}): ${this.stderr}`));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  /** Spawn `scriptPath` (a .ts file, run through tsx) and wait for its `{ready: true}`. */
  static async start(name: string, scriptPath: string, args: readonly string[] = [], nodeArgs: readonly string[] = []): Promise<JsonChild> {
    const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', scriptPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const child = new JsonChild(name, proc, markReady);
    await Promise.race([
      ready,
      child.exited.then((code) => {
        throw new Error(`${name} exited (${code}) before it was ready: ${child.stderr}`);
      }),
    ]);
    return child;
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin!.write(`${JSON.stringify({ ...args, id, op })}\n`);
    });
  }

  /** Resident set size of the child now, in bytes (undefined once it is gone). */
  rssBytes(): number | undefined {
    return this.proc.pid === undefined ? undefined : procStatusBytes(this.proc.pid, 'VmRSS');
  }

  /** Ask the child to exit (op `exit`), SIGKILL it if it has not within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.call('exit').catch(() => undefined);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM) in bytes, or undefined. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples a child's RSS every `intervalMs` from outside it and keeps the peak. */
export class RssSampler {
  peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly child: JsonChild,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = this.child.rssBytes();
    if (rss !== undefined && rss > this.peak) this.peak = rss;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

export type Handlers = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;

/** The child's side: answer each JSON line on stdin with the handler named by its `op`; `exit` is built in. */
export function serveJsonLines(handlers: Handlers, onExit: () => Promise<void> = async () => undefined): void {
  const reply = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    const { id, op, ...args } = JSON.parse(line) as { id: number; op: string } & Record<string, unknown>;
    const handler =
      op === 'exit'
        ? async () => {
            await onExit();
            setImmediate(() => process.exit(0));
            return {};
          }
        : handlers[op];
    if (handler === undefined) return reply({ id, error: `unknown op ${op}` });
    handler(args).then(
      (result) => reply({ id, result: result ?? {} }),
      (error: unknown) => reply({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
  });
  reply({ ready: true });
}
