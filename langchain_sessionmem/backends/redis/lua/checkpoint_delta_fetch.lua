-- ARGV: ns, nch, channels*, nlinks, (cid, version per channel or '')*. Walks the links until every
-- channel found a stored value (its seed). Returns: links consumed, nseeds, (channel index, version,
-- value, nitems, log items*)*, then (field, record)* for the writes of the consumed links.
--#include checkpoint_prelude
local ns, nch = ARGV[1], tonumber(ARGV[2])
local nl = tonumber(ARGV[3 + nch])
local open, nopen, seeds, consumed = {}, nch, {}, 0
for i = 1, nch do open[i] = true end
local p = 4 + nch
for l = 1, nl do
  if nopen == 0 then break end
  consumed = l
  for i = 1, nch do
    local ver = ARGV[p + i]
    if open[i] and ver ~= '' then
      local v = redis.call('HGET', K.b, ns .. '\0' .. ARGV[2 + i] .. '\0' .. ver)
      if v and string.sub(v, 1, 6) ~= 'empty\0' then
        seeds[#seeds + 1] = {i, ver, v}
        open[i] = false
        nopen = nopen - 1
      end
    end
  end
  p = p + 1 + nch
end
local out = {consumed, #seeds}
for _, s in ipairs(seeds) do
  out[#out + 1] = s[1]
  out[#out + 1] = s[2]
  out[#out + 1] = s[3]
  local items = {}
  if string.sub(s[3], 1, 10) == 'sm.logref\0' then
    local id, n = string.match(string.sub(s[3], 11), '^([^:]+):(%d+)')
    for k = 0, tonumber(n) - 1, 500 do
      local part = {}
      for j = k, math.min(k + 499, tonumber(n) - 1) do part[#part + 1] = id .. '\0' .. string.format('%d', j) end
      for _, v in ipairs(redis.call('HMGET', K.l, unpack(part))) do items[#items + 1] = v end
    end
  end
  out[#out + 1] = #items
  for _, v in ipairs(items) do out[#out + 1] = v end
end
p = 4 + nch
for _ = 1, consumed do
  local member = ns .. '\0' .. ARGV[p]
  for _, f in ipairs(redis.call('ZRANGEBYLEX', K.wz, '[' .. member .. '\0', '(' .. member .. '\1')) do
    local v = redis.call('HGET', K.w, f)
    if v then
      out[#out + 1] = f
      out[#out + 1] = v
    end
  end
  p = p + 1 + nch
end
return out
