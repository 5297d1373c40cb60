-- ARGV: groups "count, items*" for: checkpoints, blob fields, log ids.
--#include checkpoint_prelude
if redis.call('EXISTS', K.m) == 0 then return 'ok' end
local p = 1
local nc = tonumber(ARGV[p])
local doomed = {}
for k = 1, nc do
  local member = ARGV[p + k]
  doomed[member] = true
  drop(member)
end
for _, e in ipairs(redis.call('ZRANGE', K.r, 0, -1)) do
  local pos = string.find(e, '\0', 1, true)
  if doomed[string.sub(e, pos + 1)] then redis.call('ZREM', K.r, e) end
end
p = p + nc + 1
local nb = tonumber(ARGV[p])
for k = 1, nb do redis.call('HDEL', K.b, ARGV[p + k]) end
p = p + nb + 1
local nl = tonumber(ARGV[p])
for k = 1, nl do
  local id = ARGV[p + k]
  local len = tonumber(redis.call('HGET', K.m, 'log:' .. id) or '0')
  for j = 0, len - 1 do redis.call('HDEL', K.l, id .. '\0' .. string.format('%d', j)) end
  redis.call('HDEL', K.m, 'log:' .. id)
end
return 'ok'
