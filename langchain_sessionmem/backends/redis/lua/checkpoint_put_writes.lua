-- ARGV: ttl_ms, now, tid, member, n, (suffix, replace, value)*. Returns {'ok', created}.
--#include checkpoint_prelude
local created = claim(ARGV[2], ARGV[3])
local n = tonumber(ARGV[5])
for k = 0, n - 1 do
  local field = ARGV[4] .. '\0' .. ARGV[6 + 3 * k]
  if ARGV[7 + 3 * k] == '1' or redis.call('HEXISTS', K.w, field) == 0 then
    redis.call('HSET', K.w, field, ARGV[8 + 3 * k])
    redis.call('ZADD', K.wz, 0, field)
  end
end
expire(ARGV[1])
return {'ok', created}
