-- KEYS: index, then 4 keys per session; ARGV: encoded session ids. Returns sessions removed.
local removed = 0
for i = 1, #ARGV do
  local base = 1 + (i - 1) * 4
  if redis.call('DEL', KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]) > 0 then
    removed = removed + 1
  end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return removed
