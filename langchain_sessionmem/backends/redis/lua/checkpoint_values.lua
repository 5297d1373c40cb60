-- ARGV: nhints, (log_id, first known item, known count)*, blob fields. Returns the blob values, then
-- (log_id, start, n, items start..n-1) for every referenced log: known prefixes and items before
-- every referenced value (trimmed away) are not sent.
--#include checkpoint_prelude
local out, need, order, known, vstart = {}, {}, {}, {}, {}
local nh = tonumber(ARGV[1])
local kat = {}
for k = 0, nh - 1 do
  kat[ARGV[2 + 3 * k]] = tonumber(ARGV[3 + 3 * k])
  known[ARGV[2 + 3 * k]] = tonumber(ARGV[4 + 3 * k])
end
local first = 2 + 3 * nh
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
      if need[id] == nil then order[#order + 1] = id; need[id] = n; vstart[id] = f
      else
        if need[id] < n then need[id] = n end
        if vstart[id] > f then vstart[id] = f end
      end
    end
  end
end
for _, id in ipairs(order) do
  local n = need[id]
  -- as fetch_start in checkpoint/assemble.py
  local start, at = vstart[id], kat[id] or 0
  if at <= vstart[id] then start = math.max(vstart[id], math.min(at + (known[id] or 0), n)) end
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
