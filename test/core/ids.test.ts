import { describe, expect, it } from 'vitest';
import { createIdGenerator, newId, randomHex, uuidV7Time } from '../../src/core/ids.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newId (UUIDv7)', () => {
  it('returns RFC 9562 version 7, variant 10 ids', () => {
    for (let i = 0; i < 1000; i++) expect(newId()).toMatch(UUID_V7);
  });

  it('never repeats across many ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(newId());
    expect(seen.size).toBe(100_000);
  });

  it('encodes the clock time in the first 48 bits', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    const id = createIdGenerator(clock)();
    expect(uuidV7Time(id)).toBe(clock.now());
    expect(id.startsWith(clock.now().toString(16).padStart(12, '0').slice(0, 8))).toBe(true);
  });

  it('is strictly increasing within one millisecond, past the 12-bit counter', () => {
    const clock = new FakeClock(1_700_000_000_000);
    const next = createIdGenerator(clock);
    let previous = next();
    for (let i = 0; i < 10_000; i++) {
      const id = next();
      expect(id > previous).toBe(true);
      previous = id;
    }
    // Counter overflow borrows the next milliseconds, never a time in the past.
    expect(uuidV7Time(previous)).toBeGreaterThan(clock.now());
    expect(uuidV7Time(previous)).toBeLessThan(clock.now() + 10);
  });

  it('stays increasing when the clock steps backwards, and follows it forward again', () => {
    let now = 1_700_000_000_000;
    const next = createIdGenerator({ now: () => now, setTimeout: () => ({}), clearTimeout: () => {} });
    const a = next();
    now -= 60_000;
    const b = next();
    expect(b > a).toBe(true);
    expect(uuidV7Time(b)).toBe(1_700_000_000_000);
    now = 1_700_000_001_000;
    const c = next();
    expect(uuidV7Time(c)).toBe(now);
  });

  it('sorts in creation order across milliseconds', () => {
    let now = 1_700_000_000_000;
    const next = createIdGenerator({ now: () => now, setTimeout: () => ({}), clearTimeout: () => {} });
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      ids.push(next(), next());
      now += 1 + (i % 3);
    }
    expect(new Set(ids.map(uuidV7Time)).size).toBe(200);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('uuidV7Time', () => {
  it('returns undefined for anything that is not a UUIDv7', () => {
    expect(uuidV7Time('not-an-id')).toBeUndefined();
    expect(uuidV7Time('0188c3a0-0000-4000-8000-000000000000')).toBeUndefined(); // v4
    expect(uuidV7Time('zzzzzzzz-zzzz-7zzz-8zzz-zzzzzzzzzzzz')).toBeUndefined();
  });
});

describe('randomHex', () => {
  it('returns lowercase hex of the asked size, never all zeros, never twice the same', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const h = randomHex(8);
      expect(h).toMatch(/^[0-9a-f]{16}$/);
      expect(h).not.toBe('0'.repeat(16));
      seen.add(h);
    }
    expect(seen.size).toBe(10_000);
    expect(randomHex(16)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('rejects sizes outside 1..64', () => {
    for (const n of [0, -1, 65, 1.5, Number.NaN]) expect(() => randomHex(n)).toThrow(RangeError);
  });
});
