import { randomFillSync } from 'node:crypto';
import { type Clock, systemClock } from './clock.js';

/**
 * Identifiers: message ids (UUIDv7, RFC 9562) and the random hex ids of W3C trace context.
 *
 * Why UUIDv7: the id of every message is also a rough timestamp and sorts in creation order, so stores keyed
 * by message id (outbox, inbox, DLQ) insert at the end of their index instead of at random places, and a
 * human can tell a message's age from its id.
 *
 * Contract:
 * - `newId()` returns a lowercase, hyphenated UUIDv7. Within one generator ids are strictly increasing as
 *   strings, even when many are made in the same millisecond or the wall clock steps backwards: the 12 bits
 *   after the version are a counter (RFC 9562 §6.2 method 1), seeded at random below 2048 each millisecond;
 *   when it overflows, or the clock goes back, the generator keeps counting on its last timestamp + 1.
 * - 62 bits of every id are fresh random bits, from `crypto.randomFillSync` (a CSPRNG).
 *
 * Why pooled: one `randomFillSync` call costs about as much as producing a whole id, so random bytes are
 * drawn 4 KiB at a time and consumed 8–16 bytes per id.
 */

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** Offset of `n` fresh random bytes in `pool`, valid until the next call. */
function take(n: number): number {
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/** `bytes` random bytes as lowercase hex, never all zeros (trace and span ids must not be). */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 64)
    throw new RangeError('randomHex: bytes must be 1..64');
  for (;;) {
    const at = take(bytes);
    let any = 0;
    for (let i = 0; i < bytes; i++) any |= pool[at + i]!;
    if (any !== 0) return pool.toString('hex', at, at + bytes);
  }
}

/** ASCII codes of the hex digits. */
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A function returning a new UUIDv7 on each call, timed by `clock`, with its own monotonic state.
 *
 * Why a scratch buffer: the id's 36 characters are written as bytes into one reused buffer and turned into a
 * string by a single `toString('latin1')`; the timestamp digits are written once per millisecond. Concatenating 16
 * substrings instead measured about 2× slower (and slower than `crypto.randomUUID`).
 */
export function createIdGenerator(clock: Clock = systemClock): () => string {
  const out = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
  const put = (pos: number, byte: number): void => {
    out[pos] = DIGITS[byte >>> 4]!;
    out[pos + 1] = DIGITS[byte & 0xf]!;
  };
  const putTime = (ms: number): void => {
    const t = ms.toString(16).padStart(12, '0');
    out.write(t.slice(0, 8), 0, 'latin1');
    out.write(t.slice(8, 12), 9, 'latin1');
  };
  let lastMs = -1;
  let counter = 0;
  return () => {
    const ms = Math.floor(clock.now());
    const at = take(10);
    if (ms > lastMs) {
      lastMs = ms;
      counter = ((pool[at]! << 8) | pool[at + 1]!) & 0x7ff;
      putTime(ms);
    } else if (++counter > 0xfff) {
      // Same millisecond (or the clock went back) and the counter is spent: borrow the next millisecond.
      lastMs++;
      counter = 0;
      putTime(lastMs);
    }
    out[15] = DIGITS[counter >>> 8]!; // out[14] is the version, '7'
    put(16, counter & 0xff);
    put(19, 0x80 | (pool[at + 2]! & 0x3f)); // variant 10
    put(21, pool[at + 3]!);
    for (let i = 0; i < 6; i++) put(24 + 2 * i, pool[at + 4 + i]!);
    return out.toString('latin1', 0, 36);
  };
}

/** A new message id (UUIDv7) on the system clock. */
export const newId: () => string = createIdGenerator();

/** The creation time (epoch ms) encoded in a UUIDv7, or undefined if `id` is not one. */
export function uuidV7Time(id: string): number | undefined {
  if (!UUID_V7.test(id)) return undefined;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
