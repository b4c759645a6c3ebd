-- Extends a lease, or, with a lease of 0, gives it back; only for its holder.
-- KEYS: 1 lease; ARGV: 1 holder, 2 lease in ms (0: release)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
