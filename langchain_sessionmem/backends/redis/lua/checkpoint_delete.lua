-- ARGV: 'gone' to delete only a thread whose meta key expired, else ''. Deletes every key of the
-- thread, damaged ones too; returns {'ok', existed, run ids*}, or {'alive'} when 'gone' finds it
-- live. Run ids are read with pcall: a key of the wrong type must not stop an erase.
--#include checkpoint_prelude
local existed = redis.call('EXISTS', K.m)
if ARGV[1] == 'gone' and existed == 1 then return {'alive'} end
local out, seen = {'ok', existed}, {}
local entries = redis.pcall('ZRANGE', K.r, 0, -1)
if type(entries) == 'table' and not entries.err then
  for _, e in ipairs(entries) do
    local cut = string.find(e, '\0', 1, true)
    if cut then seen[string.sub(e, 1, cut - 1)] = true end
  end
end
local runs = redis.pcall('SMEMBERS', K.runs)
if type(runs) == 'table' and not runs.err then
  for _, run in ipairs(runs) do seen[run] = true end
end
for run in pairs(seen) do out[#out + 1] = run end
redis.call('DEL', unpack(KEYS))
return out
