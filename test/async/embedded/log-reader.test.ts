import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/async/embedded/database.js';
import { BatchEncoder } from '../../../src/async/embedded/batch-codec.js';
import { LogReader } from '../../../src/async/embedded/log-reader.js';
import { RecentRows, type RecentRow } from '../../../src/async/embedded/recent-rows.js';
import { newStats } from '../../../src/async/embedded/stats.js';
import { tempDir } from './helpers.js';

describe('embedded broker log reader', () => {
  const tmp = tempDir();
  const { db, unlock } = openDatabase({ dir: tmp.dir, durability: 'process' });
  const reader = new LogReader(db, newStats(), new RecentRows(0));
  const insert = db.prepare('INSERT INTO batches (topic_id, first_seq, count, published_at, bytes, data) VALUES (?, ?, ?, ?, 0, x\'\')');
  let topic = 0;
  afterAll(() => {
    db.close();
    unlock();
    tmp.remove();
  });

  it('finds the first batch published at or after a time, like a linear scan would (gaps, equal times)', () => {
    const batch = fc.record({ gap: fc.integer({ min: 0, max: 5 }), count: fc.integer({ min: 1, max: 4 }), dt: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.array(batch, { maxLength: 40 }), fc.integer({ min: -2, max: 130 }), (spec, time) => {
        topic++;
        const rows: { first: number; at: number }[] = [];
        let seq = 1;
        let at = 0;
        for (const b of spec) {
          seq += b.gap;
          at += b.dt;
          insert.run(topic, seq, b.count, at);
          rows.push({ first: seq, at });
          seq += b.count;
        }
        const expected = rows.find((r) => r.at >= time)?.first;
        expect(reader.firstSeqAtTime(topic, time, 1, seq)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the same pages from the rows kept in memory as from disk, wherever a page starts', () => {
    const insertRow = db.prepare('INSERT INTO batches (topic_id, first_seq, count, published_at, bytes, data) VALUES (?, ?, ?, ?, ?, ?)');
    const spec = fc.record({
      rows: fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 30 }),
      keptFrom: fc.nat(),
      reads: fc.array(fc.record({ from: fc.integer({ min: 0, max: 150 }), max: fc.integer({ min: 1, max: 12 }), inOrder: fc.boolean() }), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(spec, ({ rows, keptFrom, reads }) => {
        topic++;
        const stored: RecentRow[] = [];
        let seq = 1;
        for (const r of rows) {
          seq += r.gap;
          const encoder = new BatchEncoder(64);
          for (let i = 0; i < r.count; i++) {
            const n = seq + i;
            encoder.append({ id: `m${n}`, key: n % 3 === 0 ? `k${n % 5}` : undefined, headers: { n: String(n) }, headerCount: 1, headerChars: 1 + String(n).length, body: Buffer.from(`body ${n}`), notBefore: 0 });
          }
          const data = encoder.finish();
          insertRow.run(topic, seq, r.count, seq * 10, data.byteLength, data);
          stored.push({ first_seq: seq, count: r.count, published_at: seq * 10, data });
          seq += r.count;
        }
        const recent = new RecentRows(1 << 20);
        recent.add(topic, stored.slice(keptFrom % stored.length));
        const fromMemory = new LogReader(db, newStats(), recent);
        const fromDisk = new LogReader(db, newStats(), new RecentRows(0));
        let next = 1;
        for (const read of reads) {
          const from = read.inOrder ? next : read.from;
          const a = fromMemory.readPage(topic, from, read.max);
          const b = fromDisk.readPage(topic, from, read.max);
          const view = (p: typeof a) => ({ next: p.next, messages: p.messages.map((m) => ({ seq: m.seq, id: m.id, key: m.key, headers: m.headers, body: Buffer.from(m.body).toString(), at: m.publishedAt })) });
          expect(view(a)).toEqual(view(b));
          next = a.next;
        }
      }),
      { numRuns: 200 },
    );
  });
});
