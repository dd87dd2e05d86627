/**
 * Ad-hoc anchor for throughput.script.ts (not a test): the plain SQLite WAL queue the machine notes measured
 * (~58–69k msg/s), in one process: insert 500 rows (one per message) per transaction, read pages of 256,
 * delete acked rows in batches. Run it next to the embedded broker to compare under the same load.
 *
 *   npx tsx test/async/embedded/anchor.script.ts [process|power] [N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const durability = process.argv[2] ?? 'process';
const n = Number(process.argv[3] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'courier-anchor-'));
const db = new Database(join(dir, 'q.db'));
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
db.exec('CREATE TABLE q (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, published_at INTEGER NOT NULL)');
const insert = db.prepare('INSERT INTO q (id, headers, body, published_at) VALUES (?, ?, ?, ?)');
const page = db.prepare('SELECT seq, id, headers, body, published_at FROM q WHERE seq > ? ORDER BY seq LIMIT 256');
const del = db.prepare('DELETE FROM q WHERE seq = ?');
const body = Buffer.alloc(256, 7);
const headers = { 'ce-type': 'bench.msg', 'ce-source': 'bench', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` };

const t0 = performance.now();
let published = 0;
let consumed = 0;
let last = 0;
const acked: number[] = [];
while (consumed < n) {
  if (published < n) {
    db.transaction(() => {
      for (let i = 0; i < 500 && published < n; i++, published++) insert.run(`m-${published}`, JSON.stringify(headers), body, Date.now());
    })();
  }
  for (const row of page.all(last) as { seq: number; headers: string }[]) {
    JSON.parse(row.headers);
    acked.push(row.seq);
    last = row.seq;
    consumed++;
  }
  db.transaction(() => {
    for (const seq of acked) del.run(seq);
  })();
  acked.length = 0;
}
const ms = performance.now() - t0;
db.close();
rmSync(dir, { recursive: true, force: true });
console.log(`anchor ${durability}: ${n} msgs end-to-end ${Math.round(n / (ms / 1000))} msg/s (row per message, 500/txn, pages of 256, batched deletes)`);
