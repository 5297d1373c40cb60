-- ARGV: ttl_ms, now, tid, member, record, metadata, run_id, nblobs, (field, value)*, nlogs,
-- (log_id, start, count, items*)*. Returns {'ok', created, new run} or {'conflict', log_id}.
--#include checkpoint_prelude
local nb = tonumber(ARGV[8])
local p = 9 + 2 * nb
local nl = tonumber(ARGV[p])
local q = p + 1
for _ = 1, nl do
  local cur = tonumber(redis.call('HGET', K.m, 'log:' .. ARGV[q]) or '0')
  if cur ~= tonumber(ARGV[q + 1]) then return {'conflict', ARGV[q]} end
  q = q + 3 + tonumber(ARGV[q + 2])
end
local created = claim(ARGV[2], ARGV[3])
q = p + 1
for _ = 1, nl do
  local id, start, cnt = ARGV[q], tonumber(ARGV[q + 1]), tonumber(ARGV[q + 2])
  for j = 1, cnt do
    redis.call('HSET', K.l, id .. '\0' .. string.format('%d', start + j - 1), ARGV[q + 2 + j])
  end
  redis.call('HSET', K.m, 'log:' .. id, string.format('%d', start + cnt))
  q = q + 3 + cnt
end
for k = 0, nb - 1 do redis.call('HSET', K.b, ARGV[9 + 2 * k], ARGV[10 + 2 * k]) end
redis.call('HSET', K.c, ARGV[4], ARGV[5])
redis.call('HSET', K.d, ARGV[4], ARGV[6])
redis.call('ZADD', K.i, 0, ARGV[4])
local new_run = 0
if ARGV[7] ~= '' then
  redis.call('ZADD', K.r, 0, ARGV[7] .. '\0' .. ARGV[4])
  new_run = redis.call('SADD', K.runs, ARGV[7])
end
expire(ARGV[1])
return {'ok', created, new_run}
