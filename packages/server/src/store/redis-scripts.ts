/**
 * The Lua scripts of the Redis engine (redis.ts), one per operation that must be atomic in Redis.
 * Every script that changes a channel runs as one unit, so several hubs sharing one Redis hand out
 * offsets from one counter, dedupe idempotency ids against one table, and stamp events with one clock
 * (Redis's `TIME`; scripts are replicated by their effects, the default since Redis 5, so a script
 * that reads the clock replicates the same values to replicas and the AOF).
 *
 * Key layout, for a store prefix P and a channel C (the part in braces is the hash tag):
 *
 *   {P:C}:meta    hash    epoch, latest (newest offset ever stored in this epoch), time (its receive time),
 *                         bytes (of the retained events' JSON)
 *   {P:C}:events  stream  one entry per retained event, ID `<offset>-0`, fields t (time), j (json), i (idempotency id)
 *   {P:C}:ids     hash    idempotency id → offset, for retained events only (trimmed with them)
 *   P:epoch       string  the epoch of channels that never stored anything (created once)
 *   P:bytes       string  bytes of the retained events' JSON over all channels (the total byte cap)
 *   P:events      string  retained events over all channels (for stats; counted once by TOTALS_SCRIPT
 *                         when absent — a history from before it was kept — then kept by every script)
 *   P:channels    zset    names of the channels that hold events, all score 0: name order (ZRANGE BYLEX)
 *   P:time        zset    every retained event as `<time, 15 digits>\0<channel>\0<offset, 16 digits>`,
 *                         all score 0: receive-time order with keyset paging (ZRANGE BYLEX), and the
 *                         age sweep walks it from the oldest end
 *
 * A stream keeps a channel's events in offset order with range reads by offset for free. The time
 * index is lexicographic rather than scored by time so that a page boundary is one exact member, even
 * when thousands of events share a millisecond.
 *
 * Redis Cluster: the keys of one channel share a slot, but the append script also writes the global
 * indexes (P:channels, P:time, P:epoch), and the scan, list and sweep scripts reach channel keys
 * they derive from index members. Both are fine on one Redis (with replicas or Sentinel) and refused by
 * a cluster; a cluster variant would keep one time index and channel set per slot and merge them.
 *
 * The time index is cleaned eagerly when retention trims by count, lazily after a reset (the reset
 * only unlinks the channel's stream, in O(1)): a scan checks each member against the stream (the
 * entry must exist with the same time) and skips stale ones, and the age sweep removes them.
 */

/** Receive time as it is written into index members: 15 digits sort like numbers until year 33658. */
export const TIME_DIGITS = 15;
/** Offsets in index members: 16 digits hold every offset below 2^53. */
export const OFFSET_DIGITS = 16;
/** The idempotency argument of an event without an id (ids are passed as `+<id>`, never empty). */
export const NO_IDEM = '-';

const COMMON = `
local function key(channel, suffix) return '{' .. ARGV[1] .. ':' .. channel .. '}:' .. suffix end
local function offsetOf(id) return tonumber(string.match(id, '^(%d+)')) end
local function member(time, channel, offset)
  return string.format('%0${TIME_DIGITS}d', time) .. '\\0' .. channel .. '\\0' .. string.format('%0${OFFSET_DIGITS}d', offset)
end
local function field(fields, name)
  for k = 1, #fields, 2 do if fields[k] == name then return fields[k + 1] end end
  return nil
end
-- The event count is kept only once it exists: until TOTALS_SCRIPT has counted a history, a delta would be wrong.
local function countEvents(countKey, delta)
  if delta ~= 0 and redis.call('EXISTS', countKey) == 1 then redis.call('INCRBY', countKey, delta) end
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Append to one channel. KEYS: meta, events, ids, P:epoch, P:channels, P:time, P:bytes, P:events.
 * ARGV: prefix, channel, maxCount, deadline (Redis ms, 0 = none), fresh store epoch, fresh channel
 * epoch, maxChannelBytes (0: none), maxTotalBytes (0: none), then per event: idempotency (`-` or
 * `+id`), json.
 * Returns {'late', now} when run after the deadline (nothing stored: the caller has given up on it),
 * {'quota', total} when the events would take the stored bytes over maxTotalBytes (nothing stored),
 * else {'ok', epoch, time, clock (Redis's TIME, for the caller's deadlines), offset1, duplicate1, …}.
 *
 * Retention, as in the other engines: past maxCount events or maxChannelBytes bytes the channel's
 * oldest events are dropped (its newest always stays); the total cap refuses the append whole and
 * drops nothing of other channels. What this append's own retention drops is planned first, so that
 * an append that makes its own room passes the total cap.
 */
export const APPEND_SCRIPT = `${COMMON}
local clock = nowMs()
local now = clock
local deadline = tonumber(ARGV[4])
if deadline > 0 and clock > deadline then return {'late', clock} end
local channel = ARGV[2]
local maxCount, maxChannelBytes, maxTotal = tonumber(ARGV[3]), tonumber(ARGV[7]), tonumber(ARGV[8])
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'latest', 'time', 'bytes')
local epoch, latest, channelBytes = meta[1], tonumber(meta[2]), tonumber(meta[4] or '0')
local fresh = not epoch
if fresh then
  -- No meta: a new channel takes the store epoch; one that is listed lost its meta (keys evicted or
  -- deleted) and must not hand out its old offsets again in an epoch a client may remember.
  local storeEpoch = redis.call('GET', KEYS[4])
  if not storeEpoch then
    storeEpoch = ARGV[5]
    redis.call('SET', KEYS[4], storeEpoch)
  end
  epoch = storeEpoch
  if redis.call('ZSCORE', KEYS[5], channel) then epoch = ARGV[6] end
  latest, channelBytes = 0, 0
elseif meta[3] and tonumber(meta[3]) > now then
  -- Receive times never go backwards within a channel, even if Redis's clock is set back.
  now = tonumber(meta[3])
end
-- What is new (ids already stored, or repeated in this batch, are duplicates), before anything is written.
local reply = {'ok', epoch, now, clock}
local new = {}
local batchIds = {}
local added = 0
local last = latest
for i = 9, #ARGV, 2 do
  local idem = ARGV[i]
  local existing = false
  if idem ~= '${NO_IDEM}' then existing = batchIds[idem] or (not fresh and redis.call('HGET', KEYS[3], idem)) end
  if existing then
    reply[#reply + 1] = tonumber(existing)
    reply[#reply + 1] = 1
  else
    last = last + 1
    if idem ~= '${NO_IDEM}' then batchIds[idem] = last end
    new[#new + 1] = {idem, ARGV[i + 1], last}
    added = added + #ARGV[i + 1]
    reply[#reply + 1] = last
    reply[#reply + 1] = 0
  end
end
if #new == 0 then return reply end
-- How many of the oldest events (the retained ones, then the new ones) retention drops, and their bytes.
local retained = 0
if not fresh then retained = redis.call('XLEN', KEYS[2]) end
local length = retained + #new
local kept = channelBytes + added
local dropCount, dropBytes = 0, 0
local function over() return length - dropCount > maxCount or (maxChannelBytes > 0 and kept > maxChannelBytes) end
local cursor = '-'
while dropCount < length - 1 and over() do
  local size
  if dropCount < retained then
    local entry = redis.call('XRANGE', KEYS[2], cursor, '+', 'COUNT', 1)[1]
    cursor = '(' .. entry[1]
    size = #field(entry[2], 'j')
  else
    size = #new[dropCount - retained + 1][2]
  end
  dropCount = dropCount + 1
  dropBytes = dropBytes + size
  kept = kept - size
end
local total = tonumber(redis.call('GET', KEYS[7]) or '0')
if maxTotal > 0 and total + added - dropBytes > maxTotal then return {'quota', total} end
local gone = 0
if fresh then
  gone = redis.call('XLEN', KEYS[2])
  redis.call('UNLINK', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'latest', 0, 'bytes', 0)
end
for _, e in ipairs(new) do
  local id = string.format('%d', e[3]) .. '-0'
  if e[1] ~= '${NO_IDEM}' then
    redis.call('XADD', KEYS[2], id, 't', now, 'j', e[2], 'i', e[1])
    redis.call('HSET', KEYS[3], e[1], e[3])
  else
    redis.call('XADD', KEYS[2], id, 't', now, 'j', e[2])
  end
  redis.call('ZADD', KEYS[6], 0, member(now, channel, e[3]))
end
if dropCount > 0 then
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', dropCount)) do
    local idemOf = field(entry[2], 'i')
    if idemOf then redis.call('HDEL', KEYS[3], idemOf) end
    redis.call('ZREM', KEYS[6], member(tonumber(field(entry[2], 't')), channel, offsetOf(entry[1])))
  end
  redis.call('XTRIM', KEYS[2], 'MAXLEN', '=', length - dropCount)
end
redis.call('HSET', KEYS[1], 'latest', last, 'time', now, 'bytes', kept)
redis.call('INCRBY', KEYS[7], added - dropBytes)
countEvents(KEYS[8], #new - dropCount - gone)
redis.call('ZADD', KEYS[5], 0, channel)
return reply
`;

/**
 * A channel's position and events after an offset. KEYS: meta, events, ids, P:epoch, P:channels.
 * ARGV: prefix, channel, afterOffset, limit, fresh epoch.
 * Returns {epoch, latest, earliest, offset1, time1, json1, …}.
 */
export const READ_SCRIPT = `${COMMON}
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'latest')
local epoch, latest = meta[1], tonumber(meta[2])
if not epoch then
  if not redis.call('ZSCORE', KEYS[5], ARGV[2]) then
    -- Never stored anything: the store epoch, created here if Redis lost it (or never had it).
    local storeEpoch = redis.call('GET', KEYS[4])
    if not storeEpoch then
      storeEpoch = ARGV[5]
      redis.call('SET', KEYS[4], storeEpoch)
    end
    return {storeEpoch, 0, 1}
  end
  -- Listed but its meta is gone: a new epoch now, so that this answer and the next append agree.
  epoch, latest = ARGV[5], 0
  countEvents(ARGV[1] .. ':events', -redis.call('XLEN', KEYS[2]))
  redis.call('UNLINK', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'latest', 0)
end
local reply = {epoch, latest, latest + 1}
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if first[1] then reply[3] = offsetOf(first[1][1]) end
local limit = tonumber(ARGV[4])
if limit > 0 then
  local from = string.format('%d', tonumber(ARGV[3]) + 1) .. '-0'
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', limit)) do
    reply[#reply + 1] = offsetOf(entry[1])
    reply[#reply + 1] = tonumber(field(entry[2], 't'))
    reply[#reply + 1] = field(entry[2], 'j')
  end
end
return reply
`;

/**
 * Drops a channel's history and starts a new epoch. KEYS: meta, events, ids, P:channels, P:bytes, P:events.
 * ARGV: prefix, channel, fresh epoch, deadline. Returns the epoch, or {'late', now}.
 * Index members of the dropped events stay behind; scans skip them and the sweep removes them.
 */
export const RESET_SCRIPT = `${COMMON}
local deadline = tonumber(ARGV[4])
if deadline > 0 and nowMs() > deadline then return {'late'} end
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
if bytes > 0 then redis.call('DECRBY', KEYS[5], bytes) end
countEvents(KEYS[6], -redis.call('XLEN', KEYS[2]))
redis.call('UNLINK', KEYS[2], KEYS[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'latest', 0)
redis.call('ZREM', KEYS[4], ARGV[2])
return {'ok', ARGV[3]}
`;

/**
 * A page of events of every channel in receive-time order, or newest first when ARGV[6] is 'newest'
 * (then the lex start is the upper bound). KEYS: P:time.
 * ARGV: prefix, lex start, lex end, limit, channel prefix, direction.
 * Returns {lastMember, channel1, epoch1, offset1, time1, json1, …}; lastMember is '' when the index
 * had fewer than `limit` members in range (the scan is complete).
 */
export const SCAN_SCRIPT = `${COMMON}
local limit = tonumber(ARGV[4])
local wanted = ARGV[5]
local members
if ARGV[6] == 'newest' then
  members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, limit)
else
  members = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYLEX', 'LIMIT', 0, limit)
end
local reply = {''}
if #members == limit then reply[1] = members[#members] end
local epochs = {}
for _, m in ipairs(members) do
  local time, channel, offset = string.match(m, '^(%d+)%z(.*)%z(%d+)$')
  if time and string.sub(channel, 1, #wanted) == wanted then
    offset = tonumber(offset)
    local id = string.format('%d', offset) .. '-0'
    local entry = redis.call('XRANGE', key(channel, 'events'), id, id)[1]
    -- A member whose event was reset away, or replaced by a new epoch's event at another time, is stale.
    if entry and tonumber(field(entry[2], 't')) == tonumber(time) then
      if epochs[channel] == nil then epochs[channel] = redis.call('HGET', key(channel, 'meta'), 'epoch') end
      if epochs[channel] then
        reply[#reply + 1] = channel
        reply[#reply + 1] = epochs[channel]
        reply[#reply + 1] = offset
        reply[#reply + 1] = tonumber(time)
        reply[#reply + 1] = field(entry[2], 'j')
      end
    end
  end
end
return reply
`;

/**
 * One bounded step of the age sweep: the oldest `batch` index members older than the cutoff.
 * KEYS: P:time. ARGV: prefix, lex end (exclusive cutoff), batch.
 * Returns {events dropped, members looked at}.
 */
export const SWEEP_SCRIPT = `${COMMON}
local members = redis.call('ZRANGE', KEYS[1], '-', ARGV[2], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local dropped = 0
for _, m in ipairs(members) do
  local time, channel, offset = string.match(m, '^(%d+)%z(.*)%z(%d+)$')
  if time then
    local id = string.format('%d', tonumber(offset)) .. '-0'
    local events = key(channel, 'events')
    local entry = redis.call('XRANGE', events, id, id)[1]
    if entry and tonumber(field(entry[2], 't')) == tonumber(time) then
      local idem = field(entry[2], 'i')
      if idem then redis.call('HDEL', key(channel, 'ids'), idem) end
      redis.call('XDEL', events, id)
      local size = #field(entry[2], 'j')
      redis.call('HINCRBY', key(channel, 'meta'), 'bytes', -size)
      redis.call('DECRBY', ARGV[1] .. ':bytes', size)
      countEvents(ARGV[1] .. ':events', -1)
      dropped = dropped + 1
    end
  end
  redis.call('ZREM', KEYS[1], m)
end
return {dropped, #members}
`;

/**
 * The store-wide totals. KEYS: P:events, P:bytes, P:channels. ARGV: prefix. Returns {events, bytes}.
 * O(1), except once per history from before the count was kept: then every listed channel's stream
 * length is added up here (one XLEN each, atomically, so no append is counted twice or missed).
 */
export const TOTALS_SCRIPT = `${COMMON}
local events = redis.call('GET', KEYS[1])
if not events then
  events = 0
  for _, name in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do events = events + redis.call('XLEN', key(name, 'events')) end
  redis.call('SET', KEYS[1], events)
end
return {tonumber(events), tonumber(redis.call('GET', KEYS[2]) or '0')}
`;

/**
 * A page of the channel list. KEYS: P:channels. ARGV: prefix, lex start, lex end, limit.
 * Returns {name1, epoch1, latest1, lastTime1 (0: no retained event), …}.
 */
export const LIST_SCRIPT = `${COMMON}
local reply = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))) do
  local meta = redis.call('HMGET', key(name, 'meta'), 'epoch', 'latest', 'time')
  if meta[1] then
    local lastTime = 0
    if meta[3] and redis.call('XLEN', key(name, 'events')) > 0 then lastTime = tonumber(meta[3]) end
    reply[#reply + 1] = name
    reply[#reply + 1] = meta[1]
    reply[#reply + 1] = tonumber(meta[2])
    reply[#reply + 1] = lastTime
  end
end
return reply
`;
