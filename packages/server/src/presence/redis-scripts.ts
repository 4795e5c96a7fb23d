/**
 * The presence directory's Lua scripts (redis-directory.ts says what the keys hold). Each change of the
 * directory and the announcement of it are one script, so they happen together or not at all: a join
 * or leave is published exactly when an entry came or went, whichever hub — the subscriber's own, or a
 * reaper of a dead one — made the change, and running a script twice changes and announces nothing the
 * second time. Announcements are PUBLISHed on the channel's broker channel `P:ev:<channel>` in the
 * format of broker/redis-codec.ts `encodePresence`: `p1 <op> <node>:<n>\n<entry JSON>`, built from a
 * member `<node>:<n> <entry JSON>`.
 *
 * Every key of the directory carries the hash tag `{P:presence}`, so a script's keys share one slot.
 * Times are Redis's clock (TIME), so hubs with skewed clocks agree on who is dead.
 */

/** Redis's clock in ms, as a Lua number (exact: far below 2^53). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: channel zset, node hash, seq, nodes zset. ARGV: member, channel, node, broker channel, payload
 * ('' for none). Adds the member once (1; 0 when it was there already). The sequence starts from
 * Redis's clock in µs when the key is missing (first use, or a FLUSHALL), so cursors handed out before a
 * flush never point past the entries written after it (a cursor is a score: `after` skips lower ones).
 */
export const ADD_SCRIPT = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
${NOW}
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], t[1] .. string.sub(string.format('%06d', tonumber(t[2])), 1, 3) .. '000')
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], now, ARGV[3])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
`;

/** KEYS: channel zset, node hash. ARGV: member, broker channel, payload. 1 when it was listed (and is announced). */
export const REMOVE_SCRIPT = `
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/** KEYS: nodes zset, node hash. ARGV: node. The node is alive now; answers how many entries Redis holds for it. */
export const BEAT_SCRIPT = `
${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[1])
return redis.call('HLEN', KEYS[2])
`;

/**
 * KEYS: nodes zset. ARGV: this node, ttl ms, most ids. Ids of other nodes whose last write is older than
 * the ttl: hubs that died without leaving.
 */
export const DEAD_SCRIPT = `
${NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])), 'LIMIT', 0, tonumber(ARGV[3]))
local dead = {}
for _, id in ipairs(ids) do if id ~= ARGV[1] then dead[#dead + 1] = id end end
return dead
`;

/**
 * KEYS: nodes zset, node hash, reaped marker. ARGV: node, ttl ms (0: the node leaves itself, no check),
 * most entries, channel key start ("{P:presence}:ch:"), broker channel start ("P:ev:").
 *
 * Removes up to about `most` of the node's entries (HSCAN from 0: what a previous chunk removed is gone,
 * so the next call finds the rest), announcing a leave for each, and answers how many are left (-1: the
 * node is alive after all, nothing done). A reap (ttl > 0) leaves a marker for an hour, so that a hub
 * that was only out of touch finds out it was reaped and announces its entries again when it rewrites them.
 */
export const DROP_SCRIPT = `
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  ${NOW}
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if seen and tonumber(seen) >= now - ttl then return -1 end
  redis.call('SET', KEYS[3], '1', 'PX', 3600000)
end
local fields = redis.call('HSCAN', KEYS[2], 0, 'COUNT', tonumber(ARGV[3]))[2]
for i = 1, #fields, 2 do
  local member, channel = fields[i], fields[i + 1]
  redis.call('HDEL', KEYS[2], member)
  if redis.call('ZREM', ARGV[4] .. channel, member) == 1 then
    local space = string.find(member, ' ', 1, true)
    redis.call('PUBLISH', ARGV[5] .. channel, 'p1 leave ' .. string.sub(member, 1, space - 1) .. '\\n' .. string.sub(member, space + 1))
  end
end
local left = redis.call('HLEN', KEYS[2])
if left == 0 then redis.call('ZREM', KEYS[1], ARGV[1]) end
return left
`;
