-- Appends one check's result to the shared log, only if the caller still
-- holds the lease of the check's shard (the fence: a replica that froze
-- past its lease, or lost it, is refused here, by Redis, whatever it
-- believes), the log is still the epoch the caller follows, and nothing
-- was published for this check and period yet (a period is published
-- once, even across a failover).
--
-- KEYS: 1 lease, 2 epoch, 3 last id, 4 periods, 5 current, 6 log, 7 first id
-- ARGV: 1 holder, 2 epoch, 3 check id, 4 period, 5 the caller's newest
--       id, 6 the log's length, 7 the result (JSON)
-- Each entry names its holder (`by`), for whoever reads the log by hand.
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return redis.error_reply('EPOCH the log began again')
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED the lease is no longer this replica\'s')
end
local period = tonumber(ARGV[4])
local before = tonumber(redis.call('HGET', KEYS[4], ARGV[3]) or '-1')
if period <= before then
  return false
end

-- The id: now, but after every id given so far (in this epoch, by the
-- caller, and the epoch's start), with at most 1,024 per millisecond
-- (src/cluster/ids.rs maps ms-seq to one number on that promise).
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local function after(id)
  if not id then return end
  local m, s = string.match(id, '^(%d+)-(%d+)$')
  if not m then return end
  m = tonumber(m)
  s = tonumber(s)
  if ms < m or (ms == m and seq <= s) then
    ms = m
    seq = s + 1
    if seq >= 1024 then
      ms = ms + 1
      seq = 0
    end
  end
end
after(redis.call('GET', KEYS[3]))
-- An entry added by hand (XADD *) may stand above the last one given here.
local top = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)[1]
if top then after(top[1]) end
after(ARGV[5])
after(ARGV[2])
local id = string.format('%d-%d', ms, seq)

redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], id, 'status', ARGV[7], 'by', ARGV[1])
redis.call('SET', KEYS[3], id)
redis.call('SET', KEYS[7], id, 'NX')
redis.call('HSET', KEYS[4], ARGV[3], period)
redis.call('HSET', KEYS[5], ARGV[3], ARGV[7])
return id
