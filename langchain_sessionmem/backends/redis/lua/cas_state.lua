-- ARGV[4..5]: expected version, data. Returns 1 when written, 0 when another version won.
local v = tonumber(redis.call('HGET', KEYS[4], 'v') or '0')
if v ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[4], 'v', v + 1, 'data', ARGV[5])
--#include session_touch
return 1
