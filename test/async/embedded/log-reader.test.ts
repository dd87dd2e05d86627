import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/async/embedded/database.js';
import { LogReader } from '../../../src/async/embedded/log-reader.js';
import { newStats } from '../../../src/async/embedded/stats.js';
import { tempDir } from './helpers.js';

describe('embedded broker log reader', () => {
  const tmp = tempDir();
  const { db, unlock } = openDatabase({ dir: tmp.dir, durability: 'process' });
  const reader = new LogReader(db, newStats());
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
});
