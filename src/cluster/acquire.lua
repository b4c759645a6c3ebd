-- Takes a shard's lease if nobody holds it: the holder is the replica's
-- name and a fencing number that only grows, so a replica that held the
-- shard before, and takes it again, holds it under a new name.
-- KEYS: 1 lease, 2 fence counter; ARGV: 1 replica, 2 lease in ms
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local holder = ARGV[1] .. ' ' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], holder, 'PX', ARGV[2])
return holder
