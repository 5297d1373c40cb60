-- ARGV: ns, start cid ('' = the newest of ns), limit, refresh ttl. Walks parent pointers from the start:
-- returns (cid, record)* in chain order, nothing if the thread does not exist.
--#include checkpoint_prelude
if redis.call('EXISTS', K.m) == 0 then return {} end
local ns, cid, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if cid == '' then
  local ms = redis.call('ZREVRANGEBYLEX', K.i, '(' .. ns .. '\1', '[' .. ns .. '\0', 'LIMIT', 0, 1)
  if #ms == 0 then return {} end
  cid = string.sub(ms[1], #ns + 2)
end
-- the record is msgpack [parent_id, type, bytes, run_id]: read the parent (nil or a str) only
local function parent_of(rec)
  local b = string.byte(rec, 2)
  if b >= 0xa0 and b <= 0xbf then return string.sub(rec, 3, 2 + b - 0xa0) end
  if b == 0xd9 then return string.sub(rec, 4, 3 + string.byte(rec, 3)) end
  if b == 0xda then return string.sub(rec, 5, 4 + string.byte(rec, 3) * 256 + string.byte(rec, 4)) end
  return nil
end
local out = {}
for _ = 1, limit do
  local rec = redis.call('HGET', K.c, ns .. '\0' .. cid)
  if not rec then break end
  out[#out + 1] = cid
  out[#out + 1] = rec
  cid = parent_of(rec)
  if not cid then break end
end
if #out > 0 then expire(ARGV[4]) end
return out
