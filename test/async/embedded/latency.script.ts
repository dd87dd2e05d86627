/**
 * Ad-hoc in-process latency of the embedded broker at a fixed rate (not a test): publish 256-byte messages
 * at `rate` msg/s for `seconds`, consume with prefetch 256 and ack; report publish→delivery and
 * publish→publish-resolved latency percentiles.
 *
 *   npx tsx test/async/embedded/latency.script.ts [process|power] [rate] [seconds]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedBroker } from '../../../src/async/embedded/index.js';

const durability = (process.argv[2] ?? 'process') as 'process' | 'power';
const rate = Number(process.argv[3] ?? 1000);
const seconds = Number(process.argv[4] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'courier-embedded-lat-'));
const broker = embeddedBroker({ dir, durability, retention: { deleteAcked: process.env.KEEP !== '1' } });
const body = new Uint8Array(256).fill(7);
const total = rate * seconds;
const sentAt: number[] = new Array<number>(total);
const deliver: number[] = [];
const confirm: number[] = [];

let received = 0;
let resolveDone!: () => void;
const done = new Promise<void>((r) => (resolveDone = r));
await broker.subscribe('lat', { group: 'g', prefetch: 256 }, async (d) => {
  const n = Number(d.message.headers.i);
  if (n >= rate) deliver.push(performance.now() - sentAt[n]!); // the first second warms up
  await d.ack();
  if (++received === total) resolveDone();
});

const start = performance.now();
let i = 0;
const tick = (): void => {
  const due = Math.floor(((performance.now() - start) / 1000) * rate);
  while (i < Math.min(due, total)) {
    const n = i++;
    sentAt[n] = performance.now();
    void broker.publish('lat', { id: `m-${n}`, headers: { i: String(n) }, body }).then(() => {
      if (n >= rate) confirm.push(performance.now() - sentAt[n]!);
    });
  }
  if (i < total) setTimeout(tick, 1);
};
tick();
await done;
const longestCommitMs = broker.stats().longestCommitMs;
await broker.close();
rmSync(dir, { recursive: true, force: true });
const pct = (v: number[], p: number): string => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!.toFixed(2);
};
console.log(
  `${durability} @ ${rate} msg/s × ${seconds}s: publish→deliver p50 ${pct(deliver, 50)} p99 ${pct(deliver, 99)} max ${pct(deliver, 100)} ms; ` +
    `publish→confirmed p50 ${pct(confirm, 50)} p99 ${pct(confirm, 99)} ms; longest commit ${longestCommitMs.toFixed(2)} ms`,
);
