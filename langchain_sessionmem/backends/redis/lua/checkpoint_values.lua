-- ARGV: nhints, (log_id, known length)*, blob fields. Returns the blob values, then
-- (log_id, start, n, items start..n-1) for every referenced log: known prefixes and items before
-- every referenced value (trimmed away) are not sent.
--#include checkpoint_prelude
local out, need, order, known, lo = {}, {}, {}, {}, {}
local nh = tonumber(ARGV[1])
for k = 0, nh - 1 do known[ARGV[2 + 2 * k]] = tonumber(ARGV[3 + 2 * k]) end
local first = 2 + 2 * nh
for k = first, #ARGV, 500 do
  local part = {}
  for j = k, math.min(k + 499, #ARGV) do part[#part + 1] = ARGV[j] end
  for _, v in ipairs(redis.call('HMGET', K.b, unpack(part))) do
    out[#out + 1] = v
    if v and string.sub(v, 1, 10) == 'sm.logref\0' then
      -- '<log>:<end>' or '<log>:<end>:<first>...' (the value starts at item <first>)
      local id, n, rest = string.match(string.sub(v, 11), '^([^:]+):(%d+):?(.*)$')
      n = tonumber(n)
      local f = tonumber(string.match(rest, '^(%d+)') or '0')
      if need[id] == nil then order[#order + 1] = id; need[id] = n; lo[id] = f
      else
        if need[id] < n then need[id] = n end
        if lo[id] > f then lo[id] = f end
      end
    end
  end
end
for _, id in ipairs(order) do
  local n = need[id]
  local start = math.max(lo[id], math.min(known[id] or 0, n))
  out[#out + 1] = id
  out[#out + 1] = start
  out[#out + 1] = n
  for k = start, n - 1, 500 do
    local part = {}
    for j = k, math.min(k + 499, n - 1) do part[#part + 1] = id .. '\0' .. string.format('%d', j) end
    for _, v in ipairs(redis.call('HMGET', K.l, unpack(part))) do out[#out + 1] = v end
  end
end
return out
