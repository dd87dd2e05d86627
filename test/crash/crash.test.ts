/**
 * The crash test: no acknowledged publish is lost when the process that owns the embedded broker is killed.
 *
 * - A broker-owner process opens the embedded broker (durability `process`) and serves it on a Unix socket.
 * - A producer process publishes 100 000 numbered messages through `remoteBroker` and appends every number
 *   whose publish was acknowledged to a recorder file (the producer is never killed, so the file is whole).
 * - The test SIGKILLs the owner at random points, at least 5 times (at random acknowledged counts, plus once
 *   right after a restart), and starts it again each time; the producer's client reconnects and resends
 *   what was in flight, and the producer publishes again whatever failed.
 * - The checker then opens the broker directory itself and consumes everything: every recorded number must
 *   be there (lost = 0); numbers stored twice (committed, but the acknowledgement died with the owner) are
 *   counted and printed, not failed: at-least-once.
 *
 * `CRASH_SEED=<n>` replays a run's kill points; `CRASH_COUNT` changes the number of messages.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedBroker } from '../../src/async/embedded/index.js';
import { spawnFixture, type Child } from './children.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const COUNT = Number(process.env.CRASH_COUNT ?? 100_000);
const KILLS_AT_COUNTS = 5;
const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: the kill schedule is reproducible from the printed seed. */
function seeded(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const children: Child[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) await c.killHard();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function startOwner(brokerDir: string, socketPath: string): Child {
  const owner = spawnFixture('broker-owner.ts', [brokerDir, socketPath, 'process']);
  children.push(owner);
  return owner;
}

interface Checked {
  readonly acked: number;
  readonly stored: number;
  readonly distinct: number;
  readonly lost: number;
  readonly duplicates: number;
}

/** Open the broker directory (its owner is dead) and compare what it holds with what was acknowledged. */
async function check(brokerDir: string, recorderFile: string): Promise<Checked> {
  const acked = new Set(
    readFileSync(recorderFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number),
  );
  const broker = embeddedBroker({ dir: brokerDir });
  const copies = new Map<number, number>();
  let stored = 0;
  try {
    const sub = await broker.subscribe('crash', { group: 'checker', prefetch: 1000, start: { from: 'earliest' } }, async (d) => {
      const n = Number(d.message.headers.n);
      copies.set(n, (copies.get(n) ?? 0) + 1);
      stored++;
      await d.ack();
    });
    for (;;) {
      const lag = await broker.lag('crash', 'checker');
      if (lag.pending === 0 && lag.inFlight === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sub.close();
  } finally {
    await broker.close();
  }
  let lost = 0;
  for (const n of acked) if (!copies.has(n)) lost++;
  return { acked: acked.size, stored, distinct: copies.size, lost, duplicates: stored - copies.size };
}

describe('crash test: SIGKILL of the embedded broker owner', () => {
  it(`loses no acknowledged publish of ${COUNT} across ${KILLS_AT_COUNTS + 1} kills and restarts of its owner`, async () => {
    dir = mkdtempSync(join(tmpdir(), 'courier-crash-'));
    const brokerDir = join(dir, 'broker');
    const socketPath = join(dir, 'broker.sock');
    const recorderFile = join(dir, 'acked.txt');
    const random = seeded(seed);
    const killAt = Array.from({ length: KILLS_AT_COUNTS }, () => Math.floor(COUNT * (0.05 + 0.85 * random()))).sort((a, b) => a - b);
    const started = Date.now();

    let owner = startOwner(brokerDir, socketPath);
    await owner.waitFor(/^READY$/, 60_000);
    const producer = spawnFixture('producer.ts', [socketPath, String(COUNT), recorderFile]);
    children.push(producer);
    let acked = 0;
    let done: string | undefined;
    producer.onLine((line) => {
      if (line.startsWith('ACKED ')) acked = Number(line.slice(6));
      else if (line.startsWith('DONE ')) done = line;
    });
    const producerExit = producer.exited;

    const waitUntil = async (condition: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (!condition()) {
        if (producer.proc.exitCode !== null) throw new Error(`producer exited while waiting for ${what}: ${producer.stderr()}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };

    let kills = 0;
    const restart = async (): Promise<void> => {
      await owner.killHard();
      kills++;
      owner = startOwner(brokerDir, socketPath);
      await owner.waitFor(/^READY$/, 60_000);
    };
    for (const [i, threshold] of killAt.entries()) {
      await waitUntil(() => acked >= threshold || done !== undefined, `${threshold} acknowledgements`);
      if (done !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20)));
      await restart();
      if (i === 1) {
        // Once more while the producer is reconnecting and resending: kill the fresh owner almost at once.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30)));
        await restart();
      }
    }
    const { code } = await producerExit;
    expect(code, `producer failed: ${producer.stderr()}`).toBe(0);
    await owner.killHard(); // the checker needs the directory; one more crash does not hurt
    kills++;

    const result = await check(brokerDir, recorderFile);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `CRASH seed=${seed} messages=${COUNT} kills=${kills} acked=${result.acked} stored=${result.stored} distinct=${result.distinct} ` +
        `lost=${result.lost} duplicates=${result.duplicates} producer="${done ?? ''}" seconds=${seconds}`,
    );
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(result.acked).toBe(COUNT);
    expect(result.lost).toBe(0);
  }, 175_000);
});
