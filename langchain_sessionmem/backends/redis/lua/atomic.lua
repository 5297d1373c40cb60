-- An atomic pipe (see connections.Pipe) where no direct connection writes MULTI / EXEC: a
-- cluster client or a caller's own client. KEYS: each command's key (its first argument), in
-- order. ARGV: for each command, its name, the number of its further arguments, and those.
-- Returns the commands' replies.
local replies, a = {}, 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[a + 1])
  replies[k] = redis.call(ARGV[a], KEYS[k], unpack(ARGV, a + 2, a + 1 + n))
  a = a + 2 + n
end
return replies
