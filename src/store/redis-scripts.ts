/**
 * The Lua scripts of {@link RedisEventStore}. Each runs atomically in Redis, so
 * concurrent appends from any number of processes get distinct, consecutive
 * ids on a channel, and a read sees a consistent log.
 *
 * Keys of a channel (the `{…}` hash tag keeps both in one cluster slot):
 * - `KEYS[1]`, `<prefix>{<channel>}:seq`: the channel's last id (INCR). No
 *   expiry, so ids never go back while Redis keeps its data.
 * - `KEYS[2]`, `<prefix>{<channel>}:events`: a stream whose entry ids are
 *   `<id>-0`; fields `t` (time in ms, first), `d` (data) and `e` (type, when
 *   present). Its expiry is refreshed to `maxAgeMs` on each append, so a quiet
 *   channel's events vanish together.
 *
 * Times come from the Redis server's clock (TIME), the same for every
 * process, so they follow the ids and the expired events are a prefix.
 * @internal
 */

/** Shared Lua: the time, and dropping the events older than a cutoff from the head. */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function trim_age(key, cutoff)
  for _ = 1, 100 do
    local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 100)
    local n = #batch
    if n == 0 then return end
    for i = 1, n do
      -- 't' is always the first field
      if tonumber(batch[i][2][2]) >= cutoff then
        if i > 1 then redis.call('XTRIM', key, 'MINID', batch[i][1]) end
        return
      end
    end
    -- the whole batch is old: 'N-1' is above every entry up to 'N-0'
    redis.call('XTRIM', key, 'MINID', (string.gsub(batch[n][1], '%-0$', '-1')))
  end
end
`;

/**
 * Append. KEYS: seq, events. ARGV: data, type, has type ('1' or '0'),
 * maxEventsPerChannel, maxAgeMs ('' for none). Returns `{ id, time }`.
 */
export const APPEND_SCRIPT = `${COMMON}
local id = redis.call('INCR', KEYS[1])
local now = now_ms()
local entry = string.format('%d-0', id)
local t = string.format('%d', now)
if ARGV[3] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], entry, 't', t, 'd', ARGV[1], 'e', ARGV[2])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], entry, 't', t, 'd', ARGV[1])
end
if ARGV[5] ~= '' then
  trim_age(KEYS[2], now - tonumber(ARGV[5]))
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return { id, now }
`;

/**
 * Read. KEYS: seq, events. ARGV: afterId ('' for none), limit, maxAgeMs ('' for none).
 * Returns `{ lastId, reset (0 or 1), entries }`, entries as XRANGE gives them.
 */
export const READ_SCRIPT = `${COMMON}
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[3] ~= '' then trim_age(KEYS[2], now_ms() - tonumber(ARGV[3])) end
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first = last + 1
if #head > 0 then first = tonumber(string.match(head[1][1], '^%d+')) end
local reset = 0
local start = '-'
if ARGV[1] ~= '' then
  local after = tonumber(ARGV[1])
  if after > last or after + 1 < first then
    reset = 1
  else
    start = string.format('%d-0', after + 1)
  end
end
return { last, reset, redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', ARGV[2]) }
`;
