/**
 * The process that owns an embedded broker in the backlog benchmark (`bench/suites/backlog.ts`); the suite
 * samples this process's RSS from outside. Publisher and consumer run in this process, on the broker itself
 * (no socket between them): the benchmark is about the broker's storage with a deep queue, not transport.
 *
 * Operations (JSON lines, `bench/lib/child.ts`):
 * - `open {dir, durability}` → `{openMs}`: time to construct the broker (open, schema, startup scan).
 * - `group {topic, group}`: create the group at the topic's earliest message (so everything published is
 *   queued for it).
 * - `publish {topic, n, window, progressEvery?}` → `{ms}`: publish `n` 256-byte messages with at most `window`
 *   unacknowledged publishes at once; a publish counts when it resolved (committed).
 * - `consume {topic, group, n, prefetch}` → `{ms}`: consume from where the group is (the head of its
 *   queue), acking each message, until `n` acks have resolved (committed); then close the subscription.
 * - `lag {topic, group}`, `stats`, `mem` (`process.memoryUsage()`), `close` (the broker, cleanly), `exit`.
 */
import { embeddedBroker, type EmbeddedBroker } from '../../src/async/embedded/index.js';
import { newId } from '../../src/core/ids.js';
import { serveJsonLines } from './child.js';

export const BODY_BYTES = 256;
const body = Buffer.alloc(BODY_BYTES, 0x61); // the broker copies a body at publish, so one buffer serves all

let broker: EmbeddedBroker | undefined;

function need(): EmbeddedBroker {
  if (broker === undefined) throw new Error('no broker open');
  return broker;
}

const str = (v: unknown): string => {
  if (typeof v !== 'string') throw new TypeError(`expected a string, got ${String(v)}`);
  return v;
};
const num = (v: unknown): number => {
  if (typeof v !== 'number') throw new TypeError(`expected a number, got ${String(v)}`);
  return v;
};

async function publish(topic: string, n: number, window: number, progressEvery: number): Promise<{ ms: number }> {
  const b = need();
  const started = performance.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await b.publish(topic, { id: newId(), headers: {}, body });
      done++;
      if (progressEvery > 0 && done % progressEvery === 0) {
        process.stderr.write(`[backlog-child] ${done.toLocaleString('en-US')} published, ${Math.round((done / (performance.now() - started)) * 1000)} msg/s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return { ms: performance.now() - started };
}

async function consume(topic: string, group: string, n: number, prefetch: number): Promise<{ ms: number }> {
  const b = need();
  const started = performance.now();
  let acked = 0;
  let finished!: () => void;
  let failed!: (error: unknown) => void;
  const all = new Promise<void>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  const sub = await b.subscribe(topic, { group, prefetch, start: { from: 'earliest' } }, async (d) => {
    try {
      await d.ack();
    } catch (error) {
      failed(error);
      return;
    }
    if (++acked === n) finished();
  });
  try {
    await all;
  } finally {
    await sub.close();
  }
  return { ms: performance.now() - started };
}

serveJsonLines(
  {
    open: async (a) => {
      if (broker !== undefined) throw new Error('a broker is already open');
      const durability = a.durability === 'power' ? 'power' : 'process';
      const started = performance.now();
      broker = embeddedBroker({ dir: str(a.dir), durability });
      return { openMs: performance.now() - started };
    },
    group: async (a) => {
      await need().seek(str(a.topic), str(a.group), { from: 'earliest' });
      return {};
    },
    publish: (a) => publish(str(a.topic), num(a.n), num(a.window), typeof a.progressEvery === 'number' ? a.progressEvery : 0),
    consume: (a) => consume(str(a.topic), str(a.group), num(a.n), num(a.prefetch)),
    lag: (a) => need().lag(str(a.topic), str(a.group)),
    stats: async () => need().stats(),
    mem: async () => process.memoryUsage(),
    close: async () => {
      const b = broker;
      broker = undefined;
      const started = performance.now();
      await b?.close();
      return { closeMs: performance.now() - started };
    },
  },
  async () => {
    await broker?.close();
  },
);
