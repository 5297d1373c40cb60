-- ARGV[4]: n. Removes the last n messages and forgets their ids. Returns {length left, items}.
local len = redis.call('LLEN', KEYS[1])
local n = math.min(tonumber(ARGV[4]), len)
if n <= 0 then return {len, {}} end
local keep = len - n
local items = redis.call('LRANGE', KEYS[1], keep, -1)
if keep > 0 then redis.call('LTRIM', KEYS[1], 0, keep - 1) else redis.call('DEL', KEYS[1]) end
local legacy = false
for seq = keep + 1, len do
  local back = '\0' .. seq
  local id = redis.call('HGET', KEYS[2], back)
  if id then redis.call('HDEL', KEYS[2], id, back) else legacy = true end
end
if legacy then  -- written before ids had back references: find them by seq once
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local seq = tonumber(all[i + 1])
    if string.byte(all[i], 1) ~= 0 and seq and seq > keep then redis.call('HDEL', KEYS[2], all[i]) end
  end
end
--#include session_touch
return {keep, items}
