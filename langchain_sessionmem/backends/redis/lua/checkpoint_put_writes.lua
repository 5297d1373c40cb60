-- ARGV: mode, ttl_ms, now, tid, member, n, (suffix, replace, value)*
--#include checkpoint_prelude
if not claim(ARGV[1], ARGV[3], ARGV[4]) then return {'owner'} end
local n = tonumber(ARGV[6])
for k = 0, n - 1 do
  local field = ARGV[5] .. '\0' .. ARGV[7 + 3 * k]
  if ARGV[8 + 3 * k] == '1' or redis.call('HEXISTS', K.w, field) == 0 then
    redis.call('HSET', K.w, field, ARGV[9 + 3 * k])
    redis.call('ZADD', K.wz, 0, field)
  end
end
expire(ARGV[2])
return {'ok'}
