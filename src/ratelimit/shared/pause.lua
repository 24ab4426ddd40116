-- A provider asked the channel to wait: every instance waits until the key expires.
-- KEYS[1] the channel's pause; ARGV[1] the pause in milliseconds. A pause only grows: a
-- shorter one never cuts a longer one already set (by this instance or another).
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 0
