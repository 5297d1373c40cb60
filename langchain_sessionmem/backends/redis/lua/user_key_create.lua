-- KEYS[1]: the user's wrapped data key. ARGV[1]: a fresh wrapped key. Stores it unless one exists
-- and returns the stored one, so two processes racing to create it end up with the same key.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
