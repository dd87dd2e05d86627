/**
 * Ad-hoc in-process throughput of the embedded broker (not a test, not the benchmark suite):
 * publish N messages of 256 bytes with many in flight while one subscriber consumes with prefetch 256.
 *
 *   npx tsx test/async/embedded/throughput.script.ts [process|power] [N] [inFlight]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedBroker } from '../../../src/async/embedded/index.js';

const durability = (process.argv[2] ?? 'process') as 'process' | 'power';
const n = Number(process.argv[3] ?? 200_000);
const inFlight = Number(process.argv[4] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'courier-embedded-tp-'));
const broker = embeddedBroker({ dir, durability });
const body = new Uint8Array(256).fill(7);
const headers = { 'ce-type': 'bench.msg', 'ce-source': 'bench', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };

let received = 0;
let resolveDone!: () => void;
const done = new Promise<void>((r) => (resolveDone = r));
const latencies: number[] = [];
await broker.subscribe('tp', { group: 'g', prefetch: 256, start: { from: 'earliest' } }, async (d) => {
  received++;
  if (received % 1000 === 0) latencies.push(Date.now() - (d.message.publishedAt ?? 0));
  await d.ack();
  if (received === n) resolveDone();
});

const t0 = performance.now();
const cpu0 = process.cpuUsage();
let next = 0;
let published = 0;
await new Promise<void>((resolve, reject) => {
  const pump = (): void => {
    while (next < n && next - published < inFlight) {
      const i = next++;
      broker.publish('tp', { id: `m-${i}`, headers, body }).then(() => {
        published++;
        if (published === n) resolve();
        else pump();
      }, reject);
    }
  };
  pump();
});
const tPub = performance.now();
await done;
const tEnd = performance.now();
const cpu = process.cpuUsage(cpu0);
const s = broker.stats();
await broker.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  `${durability}: ${n} msgs, publish ${Math.round(n / ((tPub - t0) / 1000))} msg/s, end-to-end ${Math.round(n / ((tEnd - t0) / 1000))} msg/s, ` +
    `CPU ${((cpu.user + cpu.system) / n).toFixed(2)} µs/msg (user ${(cpu.user / n).toFixed(2)}, sys ${(cpu.system / n).toFixed(2)}); ` +
    `txns ${s.transactions} (publish txns ${s.publishTransactions}, largest ${s.largestTransaction}), rows ${s.rowsWritten}, page reads ${s.pageReads}, largest window ${s.largestWindow}`,
);
