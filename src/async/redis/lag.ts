/**
 * `Broker.lag` for Redis Streams, from the server's own bookkeeping:
 * - pending = entries after the group's cursor (XINFO GROUPS `lag`) + nacked entries waiting in the retry set;
 * - inFlight = the group's pending-entries list (delivered, not acked) minus those waiting retries;
 * - oldestAgeMs = age of the oldest entry the group has not acked (oldest pending entry or first unread one),
 *   from the time in its id (the Redis server's clock).
 */
import type { Redis } from 'ioredis';
import type { Lag } from '../broker.js';
import { idTime } from './stream-id.js';

/** Count cap when the server cannot report a group's lag (after XDEL or an arbitrary SETID). */
const COUNT_LIMIT = 100_000;

export async function redisLag(redis: Redis, stream: string, retry: string, group: string, now: number): Promise<Lag> {
  let groups: unknown[];
  try {
    groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[];
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) return { pending: 0, inFlight: 0, oldestAgeMs: undefined };
    throw error;
  }
  const info = groups.map(pairsToMap).find((g) => g.get('name') === group);
  if (info === undefined) return { pending: 0, inFlight: 0, oldestAgeMs: undefined };
  const lastDelivered = String(info.get('last-delivered-id'));
  const pel = Number(info.get('pending'));
  const [waiting, unread, summary, firstUnread] = await Promise.all([
    redis.zcard(retry),
    info.get('lag') == null ? countAfter(redis, stream, lastDelivered) : Promise.resolve(Number(info.get('lag'))),
    redis.call('XPENDING', stream, group) as Promise<unknown[]>,
    redis.call('XRANGE', stream, `(${lastDelivered}`, '+', 'COUNT', 1) as Promise<Array<[string, unknown]>>,
  ]);
  const times: number[] = [];
  if (typeof summary[1] === 'string') times.push(idTime(summary[1]));
  if (firstUnread[0] !== undefined) times.push(idTime(firstUnread[0][0]));
  const oldest = times.length === 0 ? undefined : Math.min(...times);
  return {
    pending: unread + waiting,
    inFlight: Math.max(0, pel - waiting),
    oldestAgeMs: oldest === undefined ? undefined : Math.max(0, now - oldest),
  };
}

async function countAfter(redis: Redis, stream: string, id: string): Promise<number> {
  const entries = (await redis.call('XRANGE', stream, `(${id}`, '+', 'COUNT', COUNT_LIMIT)) as unknown[];
  return entries.length;
}

function pairsToMap(flat: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  const list = flat as unknown[];
  for (let i = 0; i + 1 < list.length; i += 2) map.set(String(list[i]), list[i + 1]);
  return map;
}
