-- ARGV: scope ('ns'|'all'), ns, exact cid, before cid, limit (-1 = none), filter JSON, refresh ttl
--#include checkpoint_prelude
if redis.call('EXISTS', K.m) == 0 then return {} end
local filter = nil
if ARGV[6] ~= '' then filter = cjson.decode(ARGV[6]) end
local limit = tonumber(ARGV[5])
local out, found = {}, 0
local function consider(member)
  local md = redis.call('HGET', K.d, member)
  if not md then return end
  if filter then
    local ok, meta = pcall(cjson.decode, md)
    if not ok then return end
    for key, want in pairs(filter) do
      if meta[key] ~= want then return end
    end
  end
  local wf = redis.call('ZRANGEBYLEX', K.wz, '[' .. member .. '\0', '(' .. member .. '\1')
  out[#out + 1] = member
  out[#out + 1] = redis.call('HGET', K.c, member)
  out[#out + 1] = md
  out[#out + 1] = #wf
  for _, f in ipairs(wf) do
    out[#out + 1] = f
    out[#out + 1] = redis.call('HGET', K.w, f)
  end
  found = found + 1
end
local function full() return limit >= 0 and found >= limit end
if ARGV[1] == 'ns' and ARGV[3] ~= '' then
  consider(ARGV[2] .. '\0' .. ARGV[3])
elseif ARGV[1] == 'ns' then
  local lo = '[' .. ARGV[2] .. '\0'
  local hi = '(' .. ARGV[2] .. '\1'
  if ARGV[4] ~= '' then hi = '(' .. ARGV[2] .. '\0' .. ARGV[4] end
  local batch = 100
  if limit >= 0 and not filter then batch = math.max(limit, 1) end
  while not full() do
    local ms = redis.call('ZREVRANGEBYLEX', K.i, hi, lo, 'LIMIT', 0, batch)
    for _, member in ipairs(ms) do
      if full() then break end
      consider(member)
    end
    if #ms < batch then break end
    hi = '(' .. ms[#ms]
  end
else
  local arr = {}
  for _, member in ipairs(redis.call('ZRANGE', K.i, 0, -1)) do
    local cid = string.sub(member, string.find(member, '\0', 1, true) + 1)
    if (ARGV[4] == '' or cid < ARGV[4]) and (ARGV[3] == '' or cid == ARGV[3]) then
      arr[#arr + 1] = {cid, member}
    end
  end
  table.sort(arr, function(a, b) return a[1] > b[1] end)
  for _, e in ipairs(arr) do
    if full() then break end
    consider(e[2])
  end
end
if found > 0 then expire(ARGV[7]) end
return out
