/**
 * `acked` retention: delete the entries of a stream that every consumer group has acknowledged.
 *
 * For each group the first entry it still needs is its oldest pending entry, or else the first entry after
 * its cursor. `XTRIM MINID` to the smallest of those over all groups never removes an entry some group has
 * not acked. A stream without groups is left alone (nobody has consumed it; `start: earliest` may want it).
 * Reading groups and trimming are two commands: a group that advances in between only makes the trim more
 * conservative than it could be.
 */
import type { Redis } from 'ioredis';
import { parseStreamId } from './stream-id.js';

export async function trimAcked(redis: Redis, stream: string): Promise<void> {
  let groups: unknown[];
  try {
    groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[];
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) return;
    throw error;
  }
  if (groups.length === 0) return;
  let min: string | undefined;
  for (const flat of groups) {
    const list = flat as unknown[];
    const field = (name: string): unknown => list[list.indexOf(name) + 1];
    const name = String(field('name'));
    const summary = (await redis.call('XPENDING', stream, name)) as unknown[];
    const needed = typeof summary[1] === 'string' ? summary[1] : nextId(String(field('last-delivered-id')));
    if (min === undefined || compareIds(needed, min) < 0) min = needed;
  }
  if (min !== undefined && min !== '0-0') await redis.call('XTRIM', stream, 'MINID', min);
}

function nextId(id: string): string {
  const { ms, seq } = parseStreamId(id);
  return seq === 0xffffffffffffffffn ? `${ms + 1n}-0` : `${ms}-${seq + 1n}`;
}

function compareIds(a: string, b: string): number {
  const x = parseStreamId(a);
  const y = parseStreamId(b);
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
  return x.seq === y.seq ? 0 : x.seq < y.seq ? -1 : 1;
}
