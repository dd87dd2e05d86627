/**
 * Backlog benchmark: does the embedded broker stay fast and small with a deep queue?
 *
 * Issue: "`npm run bench -- backlog` measures publish and consume rates and RSS with 10 million messages
 * queued, against the empty-queue rates. Must show: at 10 M queued, publish and consume rates ≥ 0.8× the
 * empty-queue rates; RSS < 250 MB."
 *
 * Setup: the embedded broker at durability `process`, 256-byte messages (headers empty, a UUIDv7 id),
 * publisher and consumer in the process that owns the broker (`bench/lib/backlog-child.ts`), so the numbers
 * are the broker's own, without a socket. The suite samples that process's RSS from outside
 * (`/proc/<pid>/status`, every 100 ms) and the size of its WAL.
 *
 * 1. Fill: a child creates group `g` on topic `backlog` and publishes BACKLOG messages with 8192 publishes in
 *    flight (the writer commits up to 8192 per transaction), then closes the broker and exits.
 * 2. Two fresh processes: B opens the filled directory, E an empty one (creating it); each closes and reopens
 *    its broker, and the reopen times are compared (startup with the backlog vs without).
 * 3. Rounds, interleaved (who goes first alternates): on each of E and B, publish BATCH messages (1000 in
 *    flight) to the queue, then consume BATCH messages from the head of the queue (prefetch 500, each
 *    message acked; a message counts when its ack committed). On B the queue holds BACKLOG messages before
 *    and after each round (the batch goes on the tail, the consumer takes from the head, 10 M messages ahead
 *    of the newly published ones); on E it holds only the batch. Median over rounds.
 *
 * Results: publish and consume msg/s with the backlog vs on the empty queue (ratio = backlog / empty,
 * target ≥ 0.8), B's peak RSS vs E's (target < 250 MB), and, for information, the startup time and the fill
 * rate. `--quick` uses a 500 k backlog (names say so). The scratch directory lives in `os.tmpdir()` and is
 * deleted at the end; the suite checks there is room for it first.
 */
import { mkdtempSync, rmSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonChild, RssSampler } from '../lib/child.js';
import { median } from '../lib/measure.js';
import { costRatio, rateRatio, round, type BenchResult, type Suite } from '../lib/suite.js';

const CHILD = fileURLToPath(new URL('../lib/backlog-child.ts', import.meta.url));
const TOPIC = 'backlog';
const GROUP = 'g';
const FILL_WINDOW = 8192;
const WINDOW = 1000;
const PREFETCH = 500;
/** Bytes a stored 256-byte message takes on disk, with room for the WAL (measured ~330 B in the db file). */
const DISK_BYTES_PER_MESSAGE = 800;

interface Plan {
  readonly backlog: number;
  readonly batch: number;
  readonly rounds: number;
  readonly label: string;
}

const FULL: Plan = { backlog: 10_000_000, batch: 200_000, rounds: 5, label: '10 M' };
const QUICK: Plan = { backlog: 500_000, batch: 100_000, rounds: 5, label: '500 k (quick)' };

interface Side {
  readonly child: JsonChild;
  readonly rss: RssSampler;
  readonly publish: number[];
  readonly consume: number[];
  readonly openMs: number;
  readonly coldOpenMs: number;
}

const MB = 1024 * 1024;

export const suite: Suite = {
  name: 'backlog',
  description:
    'embedded broker (process) with a deep queue: publish and consume msg/s with the backlog present vs on an empty queue, RSS of the broker process, startup time; 256-byte messages, publisher and consumer in the owning process',
  async run({ quick }) {
    const plan = quick ? QUICK : FULL;
    const scratch = mkdtempSync(join(tmpdir(), 'courier-bench-backlog-'));
    const children: JsonChild[] = [];
    try {
      const free = freeBytes(scratch);
      const need = plan.backlog * DISK_BYTES_PER_MESSAGE;
      if (free !== undefined && free < need) {
        return missing(plan, `not enough space in ${tmpdir()}: ${gb(free)} free, ${gb(need)} needed`);
      }
      const backlogDir = join(scratch, 'backlog');
      const emptyDir = join(scratch, 'empty');

      // 1. Fill.
      const filler = await JsonChild.start('backlog filler', CHILD);
      children.push(filler);
      const fillRss = new RssSampler(filler);
      const wal = new WalSampler(backlogDir);
      await filler.call('open', { dir: backlogDir, durability: 'process' });
      await filler.call('group', { topic: TOPIC, group: GROUP });
      const fill = await filler.call<{ ms: number }>('publish', { topic: TOPIC, n: plan.backlog, window: FILL_WINDOW });
      const fillRate = (plan.backlog / fill.ms) * 1000;
      const fillWalPeak = wal.peak;
      await filler.call('close');
      const fillPeak = fillRss.stop();
      await filler.stop();

      // 2. Fresh processes: the empty queue (E) and the backlog (B).
      const e = await openSide('empty queue', emptyDir, true);
      children.push(e.child);
      const b = await openSide('backlog', backlogDir, false);
      children.push(b.child);
      const queued = await b.child.call<{ pending: number }>('lag', { topic: TOPIC, group: GROUP });

      // 3. Interleaved rounds.
      wal.peak = 0;
      for (let r = 0; r < plan.rounds; r++) {
        const order = r % 2 === 0 ? [e, b] : [b, e];
        for (const side of order) {
          const p = await side.child.call<{ ms: number }>('publish', { topic: TOPIC, n: plan.batch, window: WINDOW });
          side.publish.push((plan.batch / p.ms) * 1000);
        }
        for (const side of order) {
          const c = await side.child.call<{ ms: number }>('consume', { topic: TOPIC, group: GROUP, n: plan.batch, prefetch: PREFETCH });
          side.consume.push((plan.batch / c.ms) * 1000);
        }
      }
      const after = await b.child.call<{ pending: number }>('lag', { topic: TOPIC, group: GROUP });
      const roundsWalPeak = wal.peak;
      wal.stop();
      const bPeak = b.rss.stop();
      const ePeak = e.rss.stop();

      const depth = `queue depth ${queued.pending.toLocaleString('en-US')} before the rounds, ${after.pending.toLocaleString('en-US')} after`;
      const rate = (what: 'publish' | 'consume', target: string): BenchResult => {
        const c = median(b[what]);
        const a = median(e[what]);
        return {
          name: `backlog ${what} msg/s, ${plan.label} queued vs empty queue`,
          value: Math.round(c),
          unit: 'msg/s',
          anchor: 'same broker, empty queue',
          anchorValue: Math.round(a),
          ratio: rateRatio(c, a),
          note: `${target}; median of ${plan.rounds} rounds of ${plan.batch.toLocaleString('en-US')} (${what === 'publish' ? `${WINDOW} in flight` : `prefetch ${PREFETCH}, from the head of the queue, counted at ack commit`}); ${depth}`,
        };
      };
      return [
        rate('publish', 'target ≥ 0.8×'),
        rate('consume', 'target ≥ 0.8×'),
        {
          name: `backlog broker RSS MB (peak, sampled), ${plan.label} queued vs empty queue`,
          value: round(bPeak / MB, 1),
          unit: 'MB',
          anchor: 'same rounds, empty queue',
          anchorValue: round(ePeak / MB, 1),
          ratio: costRatio(bPeak, ePeak),
          note: `target < 250 MB (${bPeak < 250 * MB ? 'met' : 'NOT met'}); whole process incl. Node and tsx; WAL peak ${Math.round(roundsWalPeak / MB)} MB during the rounds`,
        },
        {
          name: `backlog broker startup ms, ${plan.label} queued vs empty directory`,
          value: round(b.openMs, 1),
          unit: 'ms',
          anchor: 'reopen of an empty directory',
          anchorValue: round(e.openMs, 1),
          ratio: costRatio(b.openMs, e.openMs),
          note: `informative: embeddedBroker() reopening the directory (open, schema check, loading topics and groups); first open in a fresh process ${round(b.coldOpenMs, 1)} vs ${round(e.coldOpenMs, 1)} ms`,
        },
        {
          name: `backlog fill msg/s, ${plan.label} messages, ${FILL_WINDOW} publishes in flight`,
          value: Math.round(fillRate),
          unit: 'msg/s',
          anchor: null,
          anchorValue: null,
          ratio: null,
          note: `informative; filler RSS peak ${Math.round(fillPeak / MB)} MB, WAL peak ${Math.round(fillWalPeak / MB)} MB, ${Math.round(fill.ms / 1000)} s`,
        },
      ];
    } finally {
      for (const child of children.reverse()) await child.stop();
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};

/**
 * A fresh process on `dir`: open the broker (a cold open: the first in the process), close it, open it
 * again (the startup time compared: the same work on both sides, without first-use costs of the process).
 */
async function openSide(name: string, dir: string, createGroup: boolean): Promise<Side> {
  const child = await JsonChild.start(name, CHILD);
  try {
    const rss = new RssSampler(child);
    const cold = await child.call<{ openMs: number }>('open', { dir, durability: 'process' });
    if (createGroup) await child.call('group', { topic: TOPIC, group: GROUP });
    await child.call('close');
    const { openMs } = await child.call<{ openMs: number }>('open', { dir, durability: 'process' });
    return { child, rss, publish: [], consume: [], openMs, coldOpenMs: cold.openMs };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Largest size of `dir/broker.db-wal` seen, sampled every 250 ms. */
class WalSampler {
  peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dir: string) {
    this.timer = setInterval(() => this.sample(), 250);
    this.timer.unref();
  }

  private sample(): void {
    try {
      const size = statSync(join(this.dir, 'broker.db-wal')).size;
      if (size > this.peak) this.peak = size;
    } catch {
      // not there (yet, or after a clean close)
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

function missing(plan: Plan, why: string): BenchResult[] {
  return ['publish', 'consume'].map((what) => ({
    name: `backlog ${what} msg/s, ${plan.label} queued vs empty queue`,
    value: NaN,
    unit: 'msg/s',
    anchor: 'same broker, empty queue',
    anchorValue: null,
    ratio: null,
    note: `missing: ${why}`,
  }));
}
