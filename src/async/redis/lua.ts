/**
 * The Lua scripts of the Redis adapter. Each runs atomically on the server, so that claiming, nacking and
 * promoting never race with another consumer of the group. Scripts touch keys derived from their declared
 * keys (the delayed-publish hashes), so the adapter supports standalone Redis, not Redis Cluster.
 *
 * Keys of a topic `T` and group `G` (see `keys.ts`): the stream `T`, the group's retry set
 * `T:courier-retry:G` (sorted set: entry id → due time, for nacked entries that stay in the group's pending
 * list until due), the topic's schedule `T:courier-scheduled` (sorted set: member → due time) and one hash
 * per scheduled message `T:courier-scheduled:<member>` holding its entry fields.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Claim up to `count` entries for `consumer`: first due retries, then (when `minIdle` ≥ 0) entries whose
 * lease ran out (idle ≥ minIdle) and that are not waiting in the retry set. Returns a flat list
 * `{entryId, attempt, fields}…`; attempt = delivery count after this claim.
 * KEYS: stream, retry. ARGV: group, consumer, now, count, minIdle, scanLimit.
 */
const CLAIM = `
local stream, retry = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local now, count, minIdle, scanLimit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local n = 0
local due = redis.call('ZRANGEBYSCORE', retry, '-inf', now, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  redis.call('ZREM', retry, id)
  local info = redis.call('XPENDING', stream, group, id, id, 1)
  if #info > 0 then
    local claimed = redis.call('XCLAIM', stream, group, consumer, 0, id)
    local entry = claimed[1]
    if entry and entry[2] then
      n = n + 1
      out[#out + 1] = entry[1]; out[#out + 1] = info[1][4] + 1; out[#out + 1] = entry[2]
    end
  end
end
if minIdle >= 0 and n < count then
  local waiting = redis.call('ZCARD', retry)
  local pending = redis.call('XPENDING', stream, group, 'IDLE', minIdle, '-', '+', math.min(count - n + waiting, scanLimit))
  for _, p in ipairs(pending) do
    if n >= count then break end
    if not redis.call('ZSCORE', retry, p[1]) then
      local claimed = redis.call('XCLAIM', stream, group, consumer, minIdle, p[1])
      local entry = claimed[1]
      if entry and entry[2] then
        n = n + 1
        out[#out + 1] = entry[1]; out[#out + 1] = p[4] + 1; out[#out + 1] = entry[2]
      elseif not entry then
        -- Not claimed: another consumer took it first, or the entry was trimmed away (then drop it).
        if #redis.call('XRANGE', stream, p[1], p[1]) == 0 then redis.call('XACK', stream, group, p[1]) end
      end
    end
  end
end
return out
`;

/**
 * Act on an entry only while `consumer` still owns it (its lease did not pass to another consumer):
 * mode `retry` schedules it in the retry set at `due`; mode `touch` resets its idle time (lease renewal).
 * Returns 1 if done, 0 if the entry is no longer this consumer's.
 * KEYS: stream, retry. ARGV: group, consumer, entryId, mode, due.
 */
const OWNED = `
local info = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #info == 0 or info[1][2] ~= ARGV[2] then return 0 end
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
else
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
end
return 1
`;

/**
 * XADD a batch of entries in one command (`publish-batcher.ts`). Each XADD runs under `pcall`, so one
 * failing entry (e.g. a key of the wrong type) fails only its own publish. Returns one reply per entry: the
 * new entry id, or `{ error message }` (a one-element array) for an entry that failed.
 * KEYS: the streams, one per entry. ARGV: the number of trim arguments, the trim arguments (e.g. `MAXLEN ~
 * 1000`), then per entry its number of fields followed by the fields.
 */
const APPEND = `
local ntrim = tonumber(ARGV[1])
local a = 2 + ntrim
local out = {}
for k = 1, #KEYS do
  local nf = tonumber(ARGV[a])
  local ok, id
  if ntrim == 0 then
    ok, id = pcall(redis.call, 'XADD', KEYS[k], '*', unpack(ARGV, a + 1, a + nf))
  else
    local args = {KEYS[k]}
    for t = 2, 1 + ntrim do args[#args + 1] = ARGV[t] end
    args[#args + 1] = '*'
    for f = a + 1, a + nf do args[#args + 1] = ARGV[f] end
    ok, id = pcall(redis.call, 'XADD', unpack(args))
  end
  a = a + 1 + nf
  if ok then
    out[k] = id
  elseif type(id) == 'table' then
    out[k] = {tostring(id.err)}
  else
    out[k] = {tostring(id)}
  end
end
return out
`;

/**
 * Move scheduled (delayed) publishes that are due into the stream. Returns how many moved.
 * KEYS: stream, schedule. ARGV: now, count, then the XADD trim arguments (possibly none).
 */
const PROMOTE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local hash = KEYS[2] .. ':' .. member
  local fields = redis.call('HGETALL', hash)
  if #fields > 0 then
    local args = {KEYS[1]}
    for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
    args[#args + 1] = '*'
    for _, v in ipairs(fields) do args[#args + 1] = v end
    redis.call('XADD', unpack(args))
  end
  redis.call('DEL', hash)
  redis.call('ZREM', KEYS[2], member)
end
return #due
`;

export class LuaScript {
  private readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** EVALSHA, loading the script with EVAL the first time a server does not know it. Replies as Buffers. */
  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    // ioredis flattens array arguments (one level, as documented: `sadd('set', [1, 3])`), so long argument
    // lists are passed without spreading them onto the stack; its typings do not say so, hence the cast.
    const call = redis.callBuffer.bind(redis) as (command: string, ...args: unknown[]) => Promise<unknown>;
    try {
      return await call('EVALSHA', this.sha, keys.length, keys, args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return call('EVAL', this.source, keys.length, keys, args);
    }
  }
}

export const claimScript = new LuaScript(CLAIM);
export const ownedScript = new LuaScript(OWNED);
export const promoteScript = new LuaScript(PROMOTE);
export const appendScript = new LuaScript(APPEND);
