-- Fragment: the session's recall number (assigned on first use, never reused), in local `no`.
-- Needs locals meta (a KEYS index), sess (a KEYS index) and ARGV[3] = the encoded session id.
local no = tonumber(redis.call('HGET', KEYS[meta], 'rx') or '0')
if no == 0 then
  no = redis.call('HINCRBY', KEYS[sess], '#', 1)
  redis.call('HSET', KEYS[meta], 'rx', no)
  redis.call('HSET', KEYS[sess], 'n:' .. no, ARGV[3])
end
