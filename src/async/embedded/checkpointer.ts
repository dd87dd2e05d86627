/**
 * WAL checkpoints on a worker thread, so the event loop never waits for them.
 *
 * A checkpoint copies committed pages from the WAL into the database file and fsyncs both. Run by SQLite's
 * auto-checkpoint it happens inside whichever commit crosses the threshold, on the writer's thread: the
 * event loop. At durability `process` it must first fsync everything written to the WAL since the last one;
 * that measured 6–30 ms here, often enough to own the p99 latency. Here a worker thread with its own
 * connection runs `wal_checkpoint(PASSIVE)` (which never blocks the writer and is never blocked by it)
 * when there were commits, at most every `intervalMs`. After a checkpoint caught up, the writer's next
 * transaction restarts the WAL from its beginning, so the WAL stays small.
 *
 * The worker starts with the first commit and is unref'd (it never keeps a process alive). If it fails,
 * `onFailure` is told, and the broker falls back to SQLite's auto-checkpoint on the main connection.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Durability } from './database.js';

/** Plain JavaScript, run with `eval: true` (works the same from TypeScript sources and from `dist`). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 5000 });
db.pragma('synchronous = ' + workerData.synchronous);
parentPort.on('message', (message) => {
  if (message === 'checkpoint') {
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)');
      parentPort.postMessage({ ok: true, log: result.log, checkpointed: result.checkpointed });
    } catch (error) {
      parentPort.postMessage({ ok: false, error: String(error && error.message || error) });
    }
  } else if (message === 'close') {
    db.close();
    parentPort.close();
  }
});
`;

export interface CheckpointResult {
  /** Frames in the WAL when the checkpoint ran, and how many of them are now in the database file. */
  readonly log: number;
  readonly checkpointed: number;
}

export class BackgroundCheckpointer {
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private running = false;
  private failed = false;
  private closed = false;
  /** Checkpoints completed (for tests and stats). */
  completed = 0;

  constructor(
    private readonly file: string,
    private readonly durability: Durability,
    private readonly onFailure: (error: unknown) => void,
    private readonly intervalMs = 250,
  ) {}

  /** A transaction committed: checkpoint within `intervalMs`. */
  noteCommit(): void {
    this.dirty = true;
    if (this.timer === undefined && !this.running && !this.closed && !this.failed) {
      this.timer = setTimeout(this.run, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Stop: let a running checkpoint finish, close the worker's connection, end the thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref(); // otherwise a process with nothing else to do exits under the await below
    worker.postMessage('close');
    await exited;
  }

  private readonly run = (): void => {
    this.timer = undefined;
    if (this.closed || this.failed || !this.dirty) return;
    this.dirty = false;
    this.running = true;
    try {
      this.start().postMessage('checkpoint');
    } catch (error) {
      this.fail(error);
    }
  };

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file: this.file, synchronous: this.durability === 'power' ? 'FULL' : 'NORMAL' },
    });
    worker.unref();
    worker.on('message', (reply: { ok: boolean; error?: string } & Partial<CheckpointResult>) => {
      this.running = false;
      if (!reply.ok) return this.fail(new Error(`background checkpoint failed: ${reply.error}`));
      this.completed++;
      if (this.dirty) this.noteCommit();
    });
    worker.on('error', (error) => this.fail(error));
    this.worker = worker;
    return worker;
  }

  private fail(error: unknown): void {
    this.running = false;
    if (this.failed || this.closed) return;
    this.failed = true;
    void this.worker?.terminate();
    this.worker = undefined;
    this.onFailure(error);
  }
}
