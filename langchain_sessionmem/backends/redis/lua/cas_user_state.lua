-- Compare-and-set of a user's state hash (entities shared by the user's sessions).
-- KEYS[1]: the user-state hash. ARGV: expected version, data, ttl_ms (0 = none).
-- Returns 1 when written, 0 when another version won.
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'data', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
